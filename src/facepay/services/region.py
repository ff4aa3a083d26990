"""What the region (the insurance bureau) sees of its sites: each site, its kind and tier, and
its books - the standing settlements summed - but none of its patients, bills or audit entries.
"""

from __future__ import annotations

from dataclasses import dataclass

from facepay.hospital.tenants import DEFAULT_REGION, Hospital, Region
from facepay.services.context import Storage
from facepay.services.ports import SiteTotals
from facepay.shared.errors import NotFound


@dataclass(frozen=True)
class RegionReport:
    """The region and every site with its totals (a site without payments has zeros)."""

    region: Region
    sites: list[tuple[Hospital, SiteTotals]]

    @property
    def total(self) -> SiteTotals:
        """The region's totals: every site's added up."""
        sums = [
            sum(getattr(t, name) for _, t in self.sites) for name in SiteTotals.__dataclass_fields__
        ]
        return SiteTotals(*sums)


def region_report(*, ctx: Storage, region_id: str = DEFAULT_REGION) -> RegionReport:
    """Every site of the region with the sums of its standing settlements (one transaction)."""
    with ctx.uow() as uow:
        region = uow.tenants.region(region_id)
        if region is None:
            raise NotFound("no such region")
        sites = uow.tenants.sites(region_id)
        totals = uow.settlements.totals_by_site()
    return RegionReport(region, [(site, totals.get(site.id, SiteTotals())) for site in sites])
