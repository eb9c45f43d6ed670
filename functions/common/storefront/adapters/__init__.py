"""Adapters: the storefront's ports implemented on AWS services (boto3 clients are injected)."""
