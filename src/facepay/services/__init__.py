"""Use cases: each opens one unit of work, calls the domain, appends to the audit chain, commits.

Every function is keyword-only and takes `ctx: Services` (built by bootstrap.build_services) and
the caller's `hospital_id`; objects of another hospital are NotFound, never Forbidden, so that a
caller learns nothing about them.

- enrolment.enrol_patient                 ID card + live capture + consent -> sealed template
- identification.start_liveness_challenge / identify / resolve_second_factor /
  identify_by_credentials                  who is paying (single-use, expiring identification)
- bills.post_bill / get_bill / presettle / pay_bill      a hospital's bill, split and paid
- refunds.refund_bill                     full or by line (reverse, then re-settle the rest)
- consent.withdraw_consent                erase templates (database + gallery), record erasure
- admin.*                                 hospitals, terminals, staff users, insurance registry
- audit.record_event / verify_audit / audit_entries
- payments.*, ledger.*                    money movement used by the above
- gallery_sync.load_gallery               sealed gallery file <-> templates table (the truth)
"""
