"""Compose files of the subjects, shipped as package data (chaos_eval.compose)."""
