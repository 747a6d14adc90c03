from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Cursor pages: constant cost at any depth and never a COUNT query."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = "-created_at"
