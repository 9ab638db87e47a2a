"""The two fast consumer paths beside the lake loader: the personalization online store
(seconds) and the fraud store (minutes). Each reads the events topic in its own consumer group
and the erasure-requests topic, and keeps its Kafka offsets inside its own state."""
