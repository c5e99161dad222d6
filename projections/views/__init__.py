"""The read models: one module per audience, all pure folds over `LogEvent`s."""

from __future__ import annotations

from domain.routing import SiteDirectory
from projections.views.base import Doc, View, dumps, fold
from projections.views.board import OperatorBoard
from projections.views.education import EducationView
from projections.views.police import PoliceView
from projections.views.zhkkh import ZhkkhView

__all__ = ["Doc", "EducationView", "OperatorBoard", "PoliceView", "View", "ZhkkhView",
           "all_views", "dumps", "fold"]


def all_views(sites: SiteDirectory, canteen_min_k: int) -> list[View]:
    """Every view, configured: board, police, zhkkh, education."""
    return [OperatorBoard(), PoliceView(), ZhkkhView(sites), EducationView(sites, canteen_min_k)]
