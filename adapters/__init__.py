"""Delivery of agency feeds to other agencies' systems (webhooks), with receipts.

`kuzet adapter webhook` follows `kuzet.agency.<agency>.v1` and POSTs each CloudEvent, signed
(Ed25519) and with an `Idempotency-Key`, to the agency's endpoint, at least once: a durable
checkpoint moves only with the event's receipt or parked entry. Modules: `webhook` (the loop),
`delivery` (one event: retries and backoff), `retry` (pure rules), `signing`, `envelope`
(record → body, unsealing), `feed` (aiokafka), `state` with `state_sqlite` / `state_postgres`
(checkpoints, receipts, parked queue), `regenerate` (reproduce a period's payloads) and
`inbound` (agencies report back; recorded as `AgencyResponded` incident events).
Imports of ours: `domain` only.
"""
