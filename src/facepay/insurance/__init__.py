"""Insurance: policy versions as data and the pure settlement calculation (INSURANCE.md).

`settle(bill=, coverage=, accumulators=, policy=)` splits a bill into fund, personal-account and
cash parts under the national field names; `PolicyBook.pick` chooses the policy version in force.
Standard library and `facepay.shared` only: schemas and files live in `facepay.adapters`.
"""
