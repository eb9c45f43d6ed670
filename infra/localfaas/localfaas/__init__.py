"""localfaas: run a SAM template's functions, Kafka event source mappings and EventBridge rules
on one machine, without Docker. It knows SAM and AWS semantics, never the application."""

__version__ = "0.1.0"
