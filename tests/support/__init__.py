"""Test support: AWS resources built from template.yaml, handlers loaded as Lambda loads them."""
