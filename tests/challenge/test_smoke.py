from challenge.models import Submission


def test_factories_build_a_challenge_with_a_team(db, make_user, make_challenge, make_team):
    challenge = make_challenge(task="localization")
    team = make_team(challenge, make_user(), make_user())
    assert [m.is_captain for m in team.memberships] == [True, False]
    assert challenge.tracks[0].phases[0].boxes_blob is not None
    assert db.query(Submission).count() == 0


def test_redis_is_real(redis):
    redis.set("k", "v")
    assert redis.get("k") == b"v"
