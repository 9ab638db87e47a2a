"""Ingest: the event contract, decoding, the dead-letter queue and the Kafka-to-lake loader."""
