"""Objective metrics and reports."""
