"""Tests of the readers of each export format."""
