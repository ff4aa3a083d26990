"""Double-entry ledger modelled on TigerBeetle: bounded accounts, immutable transfers, linked
batches that post all-or-nothing, two-phase holds, reversals and idempotency keys.

Standard library and facepay.shared only; persistence maps onto it from facepay.adapters.db.
"""
