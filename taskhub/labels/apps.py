from django.apps import AppConfig

from taskhub.tenancy.roles import Role, register_permissions


class LabelsConfig(AppConfig):
    name = "taskhub.labels"
    label = "labels"

    def ready(self) -> None:
        from taskhub.core.schema import describe_tag  # noqa: PLC0415 - loads DRF, after the registry

        register_permissions(
            {
                "label.read": Role.VIEWER,
                "label.write": Role.MEMBER,
                # Deleting a label takes it off every task that carries it.
                "label.delete": Role.ADMIN,
            }
        )
        describe_tag(
            "labels",
            "The organization's labels (name unique whatever its case, color `#rrggbb`); tasks carry them "
            "and `tasks/?label=` filters by them.",
        )
        from taskhub.labels.services import seed_labels  # noqa: PLC0415 - models are loaded now
        from taskhub.tenancy.seeding import register_seeder  # noqa: PLC0415

        register_seeder(seed_labels)
