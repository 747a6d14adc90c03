"""Reads of projects."""

from uuid import UUID

from django.db.models import QuerySet

from taskhub.projects.models import Project


def project_list(*, organization_id: UUID | str) -> QuerySet[Project]:
    return Project.objects.filter(organization_id=organization_id)
