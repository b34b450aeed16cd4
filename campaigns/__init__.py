"""Example campaigns, shipped as package data (chaos_eval.campaigns)."""
