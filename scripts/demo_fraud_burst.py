"""For `make demo`: one user buys 8 times in 5 minutes from 3 countries (a card-testing burst).

    .venv/bin/python scripts/demo_fraud_burst.py [--user-id demo-fraud-1]

Produces to EVENTLAKE_TOPIC on KAFKA_BOOTSTRAP_SERVERS, timed just now, so the fraud store's
purchases_10m and countries_1h rules both fire.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import orjson
from confluent_kafka import Producer

from eventlake.config import Settings
from eventlake.ingest import kafka


def burst(user_id: str, now: datetime) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "event_id": f"{user_id}-burst-{n}",
                "event_time": (now - timedelta(seconds=40 * n)).isoformat().replace("+00:00", "Z"),
                "event_type": "purchase",
                "user_id": user_id,
                "session_id": f"{user_id}-s{n % 4}",
                "product_id": f"gift-card-{n}",
                "category_code": "electronics.gift_card",
                "price": 99.0,
                "currency": "EUR",
                "country": ("DE", "NG", "BR")[n % 3],
                "device": ("mobile", "desktop")[n % 2],
                "schema_version": 1,
            }
        )
        for n in range(8)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user-id", default="demo-fraud-1")
    args = parser.parse_args()
    settings = Settings.from_env()
    producer = Producer(kafka.producer_config(settings.bootstrap_servers))
    for value in burst(args.user_id, datetime.now(UTC)):
        kafka.produce(producer, settings.topic, value, key=args.user_id.encode())
    if producer.flush(30):
        raise SystemExit("the burst was not delivered")
    print(f"produced 8 purchases of {args.user_id} in 5 minutes from 3 countries")


if __name__ == "__main__":
    main()
