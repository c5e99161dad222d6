"""One notification-log follower for projections, the relay and the API's live feed.

`Follower` reads a log from a position, hands each page to an output and records the
position; `lead` runs a follower only while its process holds a lease, as a standby until
then. The stores that keep positions and leases (`kuzet_positions`, advisory locks, file
locks) live in `eventstore.positions` and `eventstore.lease`, wired in `kuzet.wiring`.
"""

from follow.follower import Cursor, Follower, MemoryCursor, Page
from follow.lease import Lease, lead

__all__ = ["Cursor", "Follower", "Lease", "MemoryCursor", "Page", "lead"]
