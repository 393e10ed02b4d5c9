"""munivideo's pytest plugin (entry point ``pytest11``): fixtures for adapter authors and CI.

Imports stay lazy and nothing here is autouse, so installing munivideo never changes an
unrelated test run.
"""
