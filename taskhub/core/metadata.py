"""What OPTIONS answers: DRF's description of the view, and the form only where there is one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.metadata import SimpleMetadata

if TYPE_CHECKING:  # DRF loads this class while rest_framework.views is still importing.
    from rest_framework.request import Request
    from rest_framework.views import APIView


class ApiMetadata(SimpleMetadata):
    """DRF's SimpleMetadata, except for a view whose POST or PUT takes no request body.

    DRF describes the body of POST and PUT from ``get_serializer()``; a view that takes none
    (``POST organization/exports/``, a resend) has no serializer and would answer OPTIONS with a
    500. Such a view describes no ``actions``.
    """

    def determine_actions(self, request: Request, view: APIView) -> dict[str, Any]:
        if not _has_serializer(view):
            return {}
        return super().determine_actions(request, view)


def _has_serializer(view: APIView) -> bool:
    # Imported here: DRF loads this class while rest_framework.generics is still importing.
    from rest_framework.generics import GenericAPIView  # noqa: PLC0415

    if not isinstance(view, GenericAPIView) or getattr(view, "serializer_class", None) is not None:
        return True
    return type(view).get_serializer_class is not GenericAPIView.get_serializer_class
