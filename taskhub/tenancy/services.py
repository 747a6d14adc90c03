"""Helpers every tenant resource's services share."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from django.db.models import Model, QuerySet

from taskhub.core.errors import NotFound

M = TypeVar("M", bound=Model)


def locked(source: type[M] | QuerySet[M], *, organization_id: UUID, pk: Any) -> M:
    """Return the organization's row ``pk`` of a model (or of a selector's queryset), locked until the transaction ends.

    Deleted since the view read it, or never this organization's: ``NotFound``, whose text
    names the model ("Project not found.").

    FOR NO KEY UPDATE, not FOR UPDATE: PostgreSQL checks the foreign keys Django creates at
    COMMIT (deferred), taking FOR KEY SHARE on the rows they point at, after the write has taken
    its organization's audit chain head. A FOR UPDATE held here while waiting for that head would
    deadlock with such a commit; NO KEY UPDATE does not conflict with KEY SHARE.
    """
    queryset = source if isinstance(source, QuerySet) else source._default_manager.all()
    instance = queryset.select_for_update(no_key=True).filter(pk=pk, organization_id=organization_id).first()
    if instance is None:
        raise NotFound(f"{str(queryset.model._meta.verbose_name).capitalize()} not found.")
    return instance
