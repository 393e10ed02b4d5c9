"""Fixtures for the test ERPs: each test gets a fresh one on loopback."""
