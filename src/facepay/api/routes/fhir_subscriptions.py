"""FHIR Subscription (rest-hook): a hospital system is notified of its site's bills."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
