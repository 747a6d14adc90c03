"""Naive DRF: the ModelViewSet a DRF tutorial ends with, authenticated by SimpleJWT's stock class.

``JWTAuthentication`` verifies the app's access token and reads its user row (one query per
request); ``IsAuthenticated``; ``ModelSerializer``; page-number pagination (a COUNT query per
page); DRF's default renderers and parsers. The queryset is the token's organization (its
``org`` claim): the tenant filter a DRF user adds by hand, with no row-level security under it.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from rest_framework import serializers, viewsets

from scripts.bench.baseline.models import Project, Task


class ProjectSerializer(serializers.ModelSerializer[Project]):
    class Meta:
        model = Project
        fields = ["id", "key", "name", "description", "status", "created_by", "created_at", "updated_at"]
        read_only_fields = ["created_by"]


class TaskSerializer(serializers.ModelSerializer[Task]):
    class Meta:
        model = Task
        fields = [
            "id", "project", "number", "title", "description", "status", "priority", "assignee", "due_date",
            "created_by", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["number", "created_by"]


def _organization(request: Any) -> str:
    return str(request.auth["org"])


class ProjectViewSet(viewsets.ModelViewSet[Project]):
    serializer_class = ProjectSerializer

    def get_queryset(self) -> QuerySet[Project]:
        return Project.objects.filter(organization_id=_organization(self.request)).order_by("-created_at")

    def perform_create(self, serializer: serializers.BaseSerializer[Project]) -> None:
        serializer.save(organization_id=_organization(self.request), created_by=self.request.user)


class TaskViewSet(viewsets.ModelViewSet[Task]):
    serializer_class = TaskSerializer

    def get_queryset(self) -> QuerySet[Task]:
        return Task.objects.filter(organization_id=_organization(self.request)).order_by("-created_at")

    def perform_create(self, serializer: serializers.BaseSerializer[Task]) -> None:
        """The project's next number (an F() update, then a read), in the same transaction as the insert."""
        organization = _organization(self.request)
        project = serializer.validated_data["project"]
        with transaction.atomic():
            counted = Project.objects.filter(pk=project.pk, organization_id=organization).update(
                task_counter=F("task_counter") + 1
            )
            if not counted:
                raise serializers.ValidationError({"project": ["No such project in your organization."]})
            number = Project.objects.values_list("task_counter", flat=True).get(pk=project.pk)
            serializer.save(organization_id=organization, number=number, created_by=self.request.user)
