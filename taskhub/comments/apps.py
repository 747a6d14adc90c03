from django.apps import AppConfig

from taskhub.tenancy.roles import Role, register_permissions


class CommentsConfig(AppConfig):
    name = "taskhub.comments"
    label = "comments"

    def ready(self) -> None:
        from taskhub.core.schema import describe_tag  # noqa: PLC0415 - loads DRF, after the registry

        # Editing is the author's alone and deleting the author's or an admin's: the services
        # decide that per comment; these are the floors a role must reach to try.
        register_permissions(
            {
                "comment.read": Role.VIEWER,
                "comment.write": Role.MEMBER,
                "comment.delete": Role.MEMBER,
            }
        )
        describe_tag(
            "comments",
            "Plain-text comments on tasks: everyone reads, members write, only the writer edits, the writer "
            "or an admin deletes.",
        )
        from taskhub.comments.services import seed_comments  # noqa: PLC0415 - models are loaded now
        from taskhub.tenancy.seeding import register_seeder  # noqa: PLC0415

        register_seeder(seed_comments)
