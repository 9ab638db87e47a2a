"""Simulated clickstream: events produced to Kafka or written straight into the raw lake."""
