"""Tested helpers that the notebooks of the course import."""
