"""Admin commands: ``challenge users create|set-password`` and ``challenge tokens create``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from challenge.auth.service import AccountError, change_password, register_user, user_by_email
from challenge.tokens import create_token

users_cli = AppGroup("users", help="User accounts.")
tokens_cli = AppGroup("tokens", help="API tokens.")


@users_cli.command("create")
@click.argument("email")
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--name", default="", help="Display name (default: the part of EMAIL before '@').")
@click.option("--organizer", is_flag=True, help="Make the user a site admin (every challenge; "
              "'challenge hosts add' makes a host of one).")
def create_user_command(email: str, password: str, name: str, organizer: bool) -> None:
    """Create a user account."""
    try:
        user = register_user(email, password, name, organizer=organizer)
    except AccountError as exc:
        raise click.ClickException(exc.message) from None
    role = "organizer" if user.is_organizer else "competitor"
    click.echo(f"created {role} {user.email} (id {user.id})")


@users_cli.command("set-password")
@click.argument("email")
@click.option("--password", required=True, help="At least 8 characters.")
def set_password_command(email: str, password: str) -> None:
    """Set EMAIL's password; every session of that account ends (logged out everywhere)."""
    user = user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with the email {email.strip().lower()}")
    try:
        change_password(user, password)
    except AccountError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"password changed for {user.email}; its sessions have ended")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="A label to tell tokens apart.")
def create_token_command(email: str, name: str) -> None:
    """Create an API token for EMAIL and print it (only the token, so it can be captured)."""
    user = user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with the email {email.strip().lower()}")
    click.echo(create_token(user, name))
