"""A challenge's rules: their versions, and who must accept them before what.

Each change of the text adds a version (``set_rules``, audited); the current rules are
the newest version, and a challenge whose newest text is empty has no rules to accept.
Creating or joining a team asks the person to accept the current version (the teams'
forms carry the version they showed, so a change meanwhile is not accepted unread), and
an upload is refused while its uploader has not accepted the current version: after a
change, every member is asked again before their next upload (web and API alike).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from challenge import audit, mail
from challenge.extensions import db
from challenge.models import Challenge, RulesAcceptance, RulesVersion, User, utcnow
from challenge.rules import text_audit

#: The longest rules text accepted (characters): a long legal text fits many times over.
MAX_RULES = 100_000


class RulesError(Exception):
    """A refused rules change or acceptance; ``message`` is for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def clean(text: str) -> str:
    """The text as stored: one kind of line ending, no blank lines around it."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def current(challenge: Challenge) -> RulesVersion | None:
    """The newest version of the challenge's rules (None: never set)."""
    return db.session.scalar(select(RulesVersion).where(RulesVersion.challenge_id == challenge.id)
                             .order_by(RulesVersion.version.desc()).limit(1))


def in_force(challenge: Challenge) -> RulesVersion | None:
    """The rules people must accept: the newest version, unless its text is empty."""
    rules = current(challenge)
    return rules if rules is not None and rules.text else None


def version(challenge: Challenge, number: int) -> RulesVersion | None:
    return db.session.scalar(select(RulesVersion).where(RulesVersion.challenge_id == challenge.id,
                                                        RulesVersion.version == number))


def versions(challenge: Challenge) -> list[RulesVersion]:
    """Every version, newest first."""
    return list(db.session.scalars(select(RulesVersion).where(RulesVersion.challenge_id == challenge.id)
                                   .order_by(RulesVersion.version.desc())))


def set_rules(actor: User | None, challenge: Challenge, text: str, *, commit: bool = True,
              note: str = "") -> RulesVersion | None:
    """Make ``text`` the challenge's rules: a new version when it differs from the current
    text (None when it does not: nothing changes), audited with both versions' number, SHA-256
    and length and a bounded diff (``text_audit``; the texts are the versions' rows).
    ``commit`` False: the caller's transaction (a bundle load) writes it."""
    text = clean(text)
    if len(text) > MAX_RULES:
        raise RulesError(f"rules: at most {MAX_RULES} characters (got {len(text)})")
    old = current(challenge)
    if (old.text if old is not None else "") == text:
        return None
    rules = RulesVersion(challenge_id=challenge.id, version=(old.version if old is not None else 0) + 1,
                         text=text, author_id=actor.id if actor is not None else None)
    db.session.add(rules)
    old_name = f"version {old.version}" if old is not None else "no rules"
    diff = text_audit.diffs(text=(old.text if old is not None else "", text, old_name,
                                  f"version {rules.version}"))
    audit.record(actor, "rules.update", f"challenge:{challenge.id}", challenge_id=challenge.id,
                 before={"version": old.version, "text": text_audit.fingerprint(old.text)}
                 if old is not None else None,
                 after={"version": rules.version, "text": text_audit.fingerprint(text), **diff}, note=note)
    if commit:
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            raise RulesError("rules: another organizer saved the rules at the same moment; "
                             "reload the page and apply your change again") from None
    return rules


def accepted_version(user: User, challenge: Challenge) -> RulesAcceptance | None:
    """The user's acceptance of the highest version they accepted (None: never)."""
    return db.session.scalar(select(RulesAcceptance).where(
        RulesAcceptance.user_id == user.id, RulesAcceptance.challenge_id == challenge.id)
        .order_by(RulesAcceptance.version.desc()).limit(1))


def pending(user: User, challenge: Challenge) -> RulesVersion | None:
    """The rules the user has still to accept (None: none in force, or accepted)."""
    rules = in_force(challenge)
    if rules is None:
        return None
    mine = accepted_version(user, challenge)
    return rules if mine is None or mine.version < rules.version else None


def check_form(challenge: Challenge, ticked: bool, shown: int | None) -> int | None:
    """A team form's answer to the rules: the version accepted (None: no rules in force),
    or RulesError when the box was not ticked or the rules changed after the form was shown."""
    rules = in_force(challenge)
    if rules is None:
        return None
    if not ticked:
        raise RulesError(f"to create or join a team in {challenge.title}, read its rules and tick "
                         f"the box to accept them (version {rules.version})")
    if shown != rules.version:
        raise RulesError(f"the rules of {challenge.title} changed after this page was shown: read "
                         f"version {rules.version} and accept it")
    return rules.version


def accept(user: User, challenge: Challenge, number: int, now: datetime | None = None) -> RulesAcceptance:
    """Record (and commit) that ``user`` accepted version ``number`` now; accepting a
    version again keeps the first time. Refused unless ``number`` is the version in force."""
    rules = in_force(challenge)
    if rules is None or rules.version != number:
        shown = f"version {rules.version}" if rules is not None else "no rules any more"
        raise RulesError(f"the rules of {challenge.title} changed after this page was shown (now: "
                         f"{shown}); read them again")
    found = db.session.scalar(select(RulesAcceptance).where(
        RulesAcceptance.user_id == user.id, RulesAcceptance.challenge_id == challenge.id,
        RulesAcceptance.version == number))
    if found is not None:
        return found
    row = RulesAcceptance(user_id=user.id, challenge_id=challenge.id, version=number,
                          accepted_at=now or utcnow())
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:  # the same person's second tab won the race: the same record
        db.session.rollback()
        return accept(user, challenge, number, now)
    return row


def rules_url(challenge: Challenge) -> str:
    """The absolute address of the rules page (for API errors and e-mails)."""
    return mail.link("challenges.rules", slug=challenge.slug)


def acceptance_counts(challenge: Challenge) -> dict[int, int]:
    """How many people accepted each version (the console's summary)."""
    rows = db.session.execute(select(RulesAcceptance.version, func.count())
                              .where(RulesAcceptance.challenge_id == challenge.id)
                              .group_by(RulesAcceptance.version))
    return {number: count for number, count in rows}
