"""Tamper-evident, crypto-shreddable event store; export, replay and time travel for auditors."""
