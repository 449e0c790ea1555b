"""A fixture organisation where the right answers across functions are known.

Three departments and four subjects:

- **streaming** (Kafka): written only by Data people (ada and dan two each; otto,
  who opted out, answered one): a silo of Data with a bus factor of 2;
- **VAT** (invoices and tax): every answer by fay of Finance: a fragile topic
  (bus factor 1); lee of Data asked two of its questions, so fay is lee's mentor;
- **deployments** (Kubernetes): olly of Ops wrote the most, dan of Data a little:
  for ada of Data asking across functions, olly is the colleague to ask;
- **salaries**: one document, restricted to the group ``hr``, written by hana: she
  must appear in no topic and no match for a caller outside ``hr``.

Nothing in it is about parking: questions about parking are knowledge gaps.
"""

from __future__ import annotations

from models.records import Contribution, Document, Person

STREAMING, VAT, DEPLOYMENTS, SALARIES = "streaming", "vat", "deployments", "salaries"


def people() -> list[Person]:
    """The colleagues."""
    return [
        Person("ada", "Ada Quinn", title="Data engineer", department="Data"),
        Person("dan", "Dan Ruiz", title="Data engineer", department="Data"),
        Person("lee", "Lee Park", title="Analyst", department="Data"),
        Person("otto", "Otto Berg", title="Data engineer", department="Data", opt_out=True),
        Person("fay", "Fay Stone", title="Tax accountant", department="Finance"),
        Person("olly", "Olly Moss", title="Platform engineer", department="Ops"),
        Person("hana", "Hana Kim", title="HR partner", department="HR", groups=("hr",)),
    ]


def _doc(
    doc_id: str,
    title: str,
    text: str,
    department: str,
    roles: list[tuple[str, str]],
    created: str,
    groups: tuple[str, ...] = (),
) -> Document:
    return Document(
        doc_id,
        title,
        text,
        department=department,
        authors=tuple(dict.fromkeys(p for p, _ in roles)),
        contributions=tuple(Contribution(p, r, 1.0, created) for p, r in roles),
        created=created,
        allowed_groups=groups,
    )


def documents() -> list[Document]:
    """The knowledge base; each document is named by its subject and a number."""
    kafka = [
        (
            "Kafka consumer lag keeps growing",
            "Consumer lag grows on one partition of the topic; "
            "rebalance partitions and add consumers to the Kafka consumer group.",
        ),
        (
            "Kafka broker retention settings",
            "Set retention.ms on the Kafka topic so brokers keep "
            "messages long enough for slow consumers; compaction keeps the latest key.",
        ),
        (
            "Exactly-once Kafka streams",
            "Kafka Streams gives exactly-once processing with "
            "transactions; enable idempotent producers and read_committed consumers.",
        ),
        (
            "Kafka partition count for throughput",
            "More Kafka partitions let more consumers read "
            "in parallel; choose partitions from the target throughput per consumer.",
        ),
    ]
    kafka_writers = [
        [("ada", "author")],
        [("dan", "author"), ("otto", "answered")],
        [("ada", "author")],
        [("dan", "author")],
    ]
    vat = [
        (
            "VAT on invoices to EU customers",
            "Reverse charge VAT applies to invoices for business "
            "customers in other EU countries; print their VAT number on the invoice.",
        ),
        (
            "Correcting a VAT invoice",
            "Issue a credit note for the wrong invoice and a new VAT "
            "invoice; never edit an invoice already sent to the customer.",
        ),
        (
            "VAT return deadlines",
            "The quarterly VAT return is due one month and seven days after "
            "the quarter ends; late VAT returns are fined.",
        ),
        (
            "Input VAT on travel expenses",
            "Input VAT on hotel and travel invoices can be reclaimed "
            "only with a valid VAT invoice in the company's name.",
        ),
    ]
    k8s = [
        (
            "Kubernetes rolling deployment stuck",
            "A Kubernetes rolling update hangs when readiness "
            "probes fail; check the probe path and the deployment's maxUnavailable.",
        ),
        (
            "Kubernetes pods evicted for memory",
            "Pods are evicted when the node runs out of "
            "memory; set Kubernetes resource requests and limits on every container.",
        ),
        (
            "Blue-green deployments on Kubernetes",
            "Run two Kubernetes deployments and switch the "
            "service selector to move traffic from blue to green at once.",
        ),
        (
            "Helm chart values per environment",
            "Keep one Helm chart for the Kubernetes deployment "
            "and a values file per environment; never copy the chart.",
        ),
    ]
    out = [
        _doc(f"{STREAMING}-{i}", t, x, "Data", kafka_writers[i], "2026-10-0" + str(i + 1))
        for i, (t, x) in enumerate(kafka)
    ]
    vat_roles = [("lee", "asked"), ("fay", "accepted_answer")]
    for i, (t, x) in enumerate(vat):
        roles = vat_roles if i < 2 else [("fay", "author")]
        out.append(_doc(f"{VAT}-{i}", t, x, "Finance", roles, f"2026-10-1{i}"))
    k8s_roles = [
        [("olly", "author")],
        [("olly", "author")],
        [("olly", "author"), ("dan", "answered")],
        [("olly", "author")],
    ]
    out += [
        _doc(f"{DEPLOYMENTS}-{i}", t, x, "Ops", k8s_roles[i], f"2026-10-2{i}")
        for i, (t, x) in enumerate(k8s)
    ]
    out.append(
        _doc(
            f"{SALARIES}-0",
            "Salary bands and pay reviews",
            "Salary bands are reviewed each spring; pay reviews compare salaries with the band "
            "midpoint and the market.",
            "HR",
            [("hana", "author")],
            "2026-10-30",
            groups=("hr",),
        )
    )
    return out
