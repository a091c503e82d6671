"""Make examples/payments.jsonl: ninety minutes of a card payment platform.

    python examples/make_payments.py [OUT]

The feed is what `rules/payments.cep` is written for, so the quick start shows the rules
doing their job on believable traffic rather than firing on noise:

- 4,000 customers, a few of them frequent, most paying once or twice; each has a home
  country, its currency, and one or two cards. About 1.7 payments a second in all, at
  merchants of their country, amounts of a few euros to a few hundred, 2% declined.
  Some payments (bank transfers) carry no card and no merchant.
- Mixed into it, the cases the rules look for: customers whose payments are declined
  again and again within a minute, stolen cards tested with tiny authorisations and
  then cashed out, bursts of gift-card purchases, and cards cloned abroad.

The same seed gives the same file, with Python's own generator (no other dependency).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

SEED = 2026
START = 1_764_576_000_000  # 2025-12-01 08:00 UTC, in epoch milliseconds
MINUTES = 90
CUSTOMERS = 4_000
RATE = 1.7  # payments per second, all customers together
DECLINED = 0.02

#: (country, currency, share of customers)
COUNTRIES = [
    ("US", "USD", 30), ("GB", "GBP", 12), ("DE", "EUR", 12), ("FR", "EUR", 10),
    ("IN", "INR", 10), ("BR", "BRL", 8), ("JP", "JPY", 8), ("NL", "EUR", 5), ("ES", "EUR", 5),
]  # fmt: skip
MERCHANTS = [
    "grocery", "coffee-shop", "fuel-station", "pharmacy", "bookshop", "restaurant",
    "streaming", "taxi", "airline", "hotel", "clothing", "electronics-shop", "hardware",
    "marketplace", "cinema", "bakery", "gift-cards", "telecom",
]  # fmt: skip
FRAUD_COUNTRIES = ["RU", "NG", "VN", "RO"]


class Platform:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.payments: list[dict[str, object]] = []
        countries = [c for c, _, share in COUNTRIES for _ in range(share)]
        currency = {c: cur for c, cur, _ in COUNTRIES}
        self.customers = []
        for number in range(1, CUSTOMERS + 1):
            home = rng.choice(countries)
            cards = [self.card() for _ in range(rng.choice((1, 1, 1, 2)))]
            self.customers.append((f"u{number}", home, currency[home], cards))
        #: how often each customer pays: a long tail of regulars
        self.weights = [rng.lognormvariate(0.0, 1.2) for _ in self.customers]

    def card(self) -> str:
        return "card_" + "".join(self.rng.choice("0123456789abcdef") for _ in range(10))

    def pay(self, ts: float, customer: tuple, amount: float, **fields: object) -> None:
        user, home, currency, cards = customer
        record: dict[str, object] = {
            "type": "Payment",
            "ts": int(ts),
            "user": user,
            "amount": round(amount, 2),
            "status": "ok",
            "country": home,
            "card": self.rng.choice(cards),
            "merchant": self.rng.choice(MERCHANTS),
            "currency": currency,
        }
        record.update(fields)
        self.payments.append({k: v for k, v in record.items() if v is not None})

    def everyday(self) -> None:
        rng, end = self.rng, START + MINUTES * 60_000
        ts = float(START)
        while True:
            ts += rng.expovariate(RATE / 1000.0)
            if ts >= end:
                return
            customer = rng.choices(self.customers, self.weights)[0]
            amount = min(rng.lognormvariate(3.2, 0.9), 900.0)
            status = "failed" if rng.random() < DECLINED else "ok"
            if rng.random() < 0.03:  # a bank transfer: no card, no merchant
                self.pay(ts, customer, amount * 3, status=status, card=None, merchant=None)
            else:
                self.pay(ts, customer, amount, status=status)

    def moment(self) -> float:
        """A time inside the feed, far enough from its end for a case to unfold."""
        return START + self.rng.uniform(2, MINUTES - 15) * 60_000

    def declined_again_and_again(self) -> None:
        """A customer retrying a card that keeps being declined."""
        customer, ts = self.rng.choice(self.customers), self.moment()
        card = self.rng.choice(customer[3])
        for _ in range(self.rng.randint(3, 5)):
            self.pay(ts, customer, self.rng.uniform(40, 200), status="failed", card=card)
            ts += self.rng.uniform(5_000, 14_000)

    def card_tested(self) -> None:
        """A stolen card: tiny authorisations from abroad, then a large purchase."""
        victim, ts = self.rng.choice(self.customers), self.moment()
        thief = (f"x{len(self.payments)}", self.rng.choice(FRAUD_COUNTRIES), "USD", victim[3])
        card = victim[3][0]
        for _ in range(self.rng.randint(3, 6)):
            self.pay(ts, thief, self.rng.uniform(0.5, 1.99), card=card, merchant="marketplace")
            ts += self.rng.uniform(20_000, 70_000)
        ts += self.rng.uniform(60_000, 240_000)
        amount = self.rng.uniform(600, 1_800)
        self.pay(ts, thief, amount, card=card, merchant="electronics-shop")

    def gift_card_burst(self) -> None:
        """A taken-over account buying gift cards as fast as it can."""
        customer, ts = self.rng.choice(self.customers), self.moment()
        for _ in range(self.rng.randint(5, 7)):
            self.pay(ts, customer, self.rng.choice((150.0, 200.0, 250.0)), merchant="gift-cards")
            ts += self.rng.uniform(4_000, 9_000)

    def card_cloned_abroad(self) -> None:
        """A card used at home, then within the hour in another country."""
        customer, ts = self.rng.choice(self.customers), self.moment()
        abroad = self.rng.choice([c for c, _, _ in COUNTRIES if c != customer[1]])
        self.pay(ts, customer, self.rng.uniform(10, 80))
        ts += self.rng.uniform(8, 50) * 60_000
        self.pay(ts, customer, self.rng.uniform(300, 900), country=abroad)


def make(seed: int = SEED) -> list[dict[str, object]]:
    platform = Platform(random.Random(seed))
    platform.everyday()
    for case, times in (
        (platform.declined_again_and_again, 8),
        (platform.card_tested, 4),
        (platform.gift_card_burst, 5),
        (platform.card_cloned_abroad, 6),
    ):
        for _ in range(times):
            case()
    return sorted(platform.payments, key=lambda payment: payment["ts"])


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("payments.jsonl")
    with out.open("w", encoding="utf-8") as target:
        for payment in make():
            target.write(json.dumps(payment) + "\n")


if __name__ == "__main__":
    main()
