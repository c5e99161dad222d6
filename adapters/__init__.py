"""Delivery of agency feeds to other agencies' systems (webhooks), with receipts."""
