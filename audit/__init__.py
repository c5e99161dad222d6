"""What auditors do with the event store (`eventstore`): verify its chain, anchor, export, replay,
time travel; erasure by request and by retention."""
