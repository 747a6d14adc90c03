"""DRF's page-number pagination with ``?page_size=``: the naive viewset's (a module of its own, as
DRF's settings import it while rest_framework.generics is being imported)."""

from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100
