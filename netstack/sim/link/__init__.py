"""Link models: each direction is queue -> serializer -> propagation -> impairments.

    spec.py       what a direction is (LinkSpec), and scenario values -> LinkSpec
    trace.py      mahimahi trace files
    rate.py       serializers: constant, trace (mahimahi's semantics), on/off, infinite
    queue.py      drop-tail, drop-head, CoDel (RFC 8289), PIE (RFC 8033)
    impair.py     propagation delay, jitter, loss (IID, Gilbert-Elliott), reordering,
                  duplication, corruption; common random numbers
    direction.py  LinkDirection: the stages wired together, filling a LinkRecord
    observer.py   LinkObserver: what a link log writer is told
"""
