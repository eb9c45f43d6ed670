"""The storefront's shared Lambda layer: domain events, pure decisions, AWS adapters, projector.

The core (events and decisions) imports no AWS SDK; adapters live in `storefront.adapters`.
"""
