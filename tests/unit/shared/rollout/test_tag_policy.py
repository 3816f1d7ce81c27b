"""Tag policies decide which ECR pushes roll a Deployment; semver ranges read the way node-semver reads them."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import ConfigError
from shared.rollout.tag_policy import TagDecision, TagPolicy, semver_key

# (range, version, expected): node-semver's test/fixtures/range-include.js and range-exclude.js (strict mode,
# default options), plus the examples of its README.
RANGE_CASES = [
    # bare versions and comparators, spaces after operators
    ("1.0.0", "1.0.0", True),
    ("1.0.0", "1.0.1", False),
    ("=1.2.3", "1.2.3", True),
    (">=1.0.0", "1.0.0", True),
    (">=1.0.0", "1.1.0", True),
    (">=1.0.0", "0.1.0", False),
    (">1.0.0", "1.0.1", True),
    (">1.0.0", "1.0.0", False),
    ("<=2.0.0", "2.0.0", True),
    ("<=2.0.0", "0.2.9", True),
    ("<=2.0.0", "2.2.9", False),
    ("<2.0.0", "1.9999.9999", True),
    ("<2.0.0", "2.0.0", False),
    (">= 1.0.0", "1.0.0", True),
    (">  1.0.0", "1.1.0", True),
    ("<\t2.0.0", "0.2.9", True),
    (">=0.1.97", "0.1.97", True),
    (">=0.1.97", "0.1.93", False),
    # AND and OR
    (">=1.2.1 1.2.3", "1.2.3", True),
    ("~1.2.1 >=1.2.3", "1.2.3", True),
    ("~1.2.1 >=1.2.3", "1.2.2", False),
    (">=1.0.0 <1.1.0", "1.1.0", False),
    ("0.1.20 || 1.2.4", "1.2.4", True),
    ("0.1.20 || 1.2.4", "1.2.3", False),
    (">=0.2.3 || <0.0.1", "0.0.0", True),
    (">=0.2.3 || <0.0.1", "0.2.4", True),
    (">=0.2.3 || <0.0.1", "0.0.3", False),
    # hyphen ranges
    ("1.0.0 - 2.0.0", "1.2.3", True),
    ("1.0.0 - 2.0.0", "2.2.3", False),
    ("1.2.3 - 2.3.4", "2.3.4", True),
    ("1.2.3 - 2.3.4", "2.3.5", False),
    ("1.2.3 - 2.3", "2.3.99", True),
    ("1.2.3 - 2.3", "2.4.0", False),
    ("1.2 - 2.3.4", "1.2.0", True),
    ("1 - 2", "2.9.9", True),
    ("1 - 2", "3.0.0", False),
    ("x - 1.0.0", "0.9.7", True),
    ("1.0.0 - x", "1.9.7", True),
    ("1.2.3+asdf - 2.4.3+asdf", "1.2.3", True),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3-pre.2", True),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "2.4.3-alpha", True),
    ("1.2.3+asdf - 2.4.3+asdf", "1.2.3-pre.2", False),
    ("1.2.3+asdf - 2.4.3+asdf", "2.4.3-alpha", False),
    # X-ranges and partial versions
    ("*", "1.2.3", True),
    ("x", "1.2.3", True),
    (">=*", "0.2.4", True),
    ("2", "2.1.2", True),
    ("2", "1.1.2", False),
    ("2.3", "2.3.1", True),
    ("2.3", "2.4.1", False),
    ("2.x.x", "2.1.3", True),
    ("2.x.x", "3.1.3", False),
    ("1.2.x", "1.2.3", True),
    ("1.2.x", "1.3.3", False),
    ("2.*.*", "2.1.3", True),
    ("1.2.*", "1.3.3", False),
    ("1.2.x || 2.x", "2.1.3", True),
    ("1.2.* || 2.*", "1.1.3", False),
    ("=0.7.x", "0.7.2", True),
    ("=0.7.x", "0.8.2", False),
    (">=0.7.x", "0.6.2", False),
    ("<=0.7.x", "0.7.2", True),
    ("<0.7.x", "0.7.2", False),
    ("<=7.x", "7.9.9", True),
    (">=1", "1.0.0", True),
    (">=1.2", "1.2.8", True),
    (">=1.2", "1.1.1", False),
    ("<1", "1.0.0", False),
    ("<1.2", "1.1.1", True),
    ("<1.2", "1.2.0", False),
    ("<1.2", "1.2.0-alpha", False),  # <1.2 is <1.2.0-0
    (">1.2", "1.2.8", False),  # >1.2 is >=1.3.0
    (">1.2", "1.3.0", True),
    (">1", "1.9.9", False),
    (">1", "2.0.0", True),
    (">x", "1.0.0", False),
    ("<X", "0.0.0", False),
    # tilde
    ("~1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False),
    ("~1.2", "1.2.0", True),
    ("~1", "1.9.9", True),
    ("~1", "2.0.0", False),
    ("~0.2.3", "0.2.9", True),
    ("~0.2.3", "0.3.0", False),
    ("~0", "0.9.9", True),
    ("~0.0.1", "0.0.2", True),
    ("~0.0.1", "0.1.0", False),
    ("~2.4", "2.3.9", False),
    ("~2.4", "2.5.0", False),
    ("~>3.2.1", "3.2.2", True),
    ("~>3.2.1", "3.3.2", False),
    ("~> 1", "1.2.3", True),
    ("~ 1.0.3", "1.0.12", True),
    ("~x", "0.0.9", True),
    ("~v0.5.4-pre", "0.5.4", True),
    ("~v0.5.4-beta", "0.5.4-alpha", False),
    ("~1.2.3-beta.2", "1.2.3-beta.4", True),
    ("~1.2.3-beta.2", "1.2.4-beta.2", False),
    # caret
    ("^1.2.3", "1.8.1", True),
    ("^1.2.3", "1.2.2", False),
    ("^1.2.3", "2.0.0", False),
    ("^1.2.3+build", "1.3.0", True),
    ("^1.2.3+build", "1.2.0", False),
    ("^1.2", "1.4.2", True),
    ("^1.2", "1.1.9", False),
    ("^1.2.x", "1.9.0", True),
    ("^1.2.x", "1.1.0", False),
    ("^1.x", "1.0.0", True),
    ("^1.x", "2.0.0", False),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.1", "0.1.2", True),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0.0.1", "0.0.2", False),
    ("^0.0.x", "0.0.9", True),
    ("^0.0", "0.1.0", False),
    ("^0.x", "0.9.9", True),
    ("^0", "1.0.0", False),
    ("^x", "1.2.3", True),
    ("^1.2 ^1", "1.4.2", True),
    ("^ 1.2 ^ 1", "1.4.2", True),
    # pre-releases: only of a [major, minor, patch] that a comparator of the same AND-set names with a pre-release
    ("^1.2.3", "1.2.3-beta", False),
    ("^1.2", "1.2.0-pre", False),
    ("^1.2.3", "2.0.0-alpha", False),
    ("^1.0.0", "2.0.0-rc1", False),
    ("^1.2.3-alpha", "1.2.3-pre", True),
    ("^1.2.0-alpha", "1.2.0-pre", True),
    ("^1.2.3-beta.2", "1.2.3-beta.4", True),
    ("^1.2.3-beta.2", "1.2.4-beta.2", False),
    ("^0.0.1-alpha", "0.0.1-beta", True),
    ("^0.0.1-alpha", "0.0.1", True),
    ("^0.0.3-beta", "0.0.3-pr.2", True),
    ("^0.1.1-alpha", "0.1.1-beta", True),
    ("^0.0.1", "0.0.2-alpha", False),
    (">=1.2.3-alpha.1", "1.2.3-alpha.7", True),
    (">=1.2.3-alpha.1", "3.4.5-alpha.9", False),
    (">=1.2.3-alpha.1", "3.4.5", True),
    (">1.2.3-alpha.3", "1.2.3-alpha.7", True),
    (">1.2.3-alpha.3", "3.4.5-alpha.9", False),
    ("<=1.2.3", "1.2.3-beta", False),
    ("<1.2.3", "1.2.3-beta", False),
    ("=1.2.3", "1.2.3-beta", False),
    (">=1.0.0 <1.1.0", "1.1.0-pre", False),
    (">=1.0.0 <1.1.0-pre", "1.1.0-pre", False),
    ("=0.7.x", "0.7.0-asdf", False),
    ("1.x", "1.1.0-a", False),
    ("1 - 2", "2.0.0-pre", False),
    ("*", "1.0.0-rc1", False),
    ("^1 || >=2.0.0-rc.1 <2.0.0", "2.0.0-rc.2", True),  # one alternative opting in is enough
    # leading v (and =) in ranges and in tags; build metadata is ignored
    ("*", "v1.2.3", True),
    (">=0.1.97", "v0.1.97", True),
    (">=v1.2", "1.2.0", True),
    ("=v1.2.3", "V1.2.3", True),
    ("v1.2.3", "1.2.3+build.5", True),
    ("^v1.2.3", "v1.9.0+sha.abc", True),
]


@pytest.mark.parametrize(("range_", "version", "expected"), RANGE_CASES)
def test_semver_ranges_read_like_node_semver(range_, version, expected):
    assert TagPolicy("semver", range_).decide(version).matched is expected


SPEC_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2.0",
    "1.10.0",
    "2.0.0",
]


@pytest.mark.parametrize(("lower", "higher"), list(pairwise(SPEC_ORDER)))
def test_precedence_follows_semver_2_section_11(lower, higher):
    assert semver_key(lower) < semver_key(higher)


def test_sorting_by_key_gives_spec_order_and_ignores_build_metadata():
    assert sorted(reversed(SPEC_ORDER), key=semver_key) == SPEC_ORDER
    assert semver_key("1.0.0+build.1") == semver_key("1.0.0") == semver_key("v1.0.0") == semver_key("V1.0.0+x")
    assert semver_key("1.0.0-rc.1+a") == semver_key("1.0.0-rc.1")


@pytest.mark.parametrize(
    "tag", ["latest", "1.2", "1", "v", "1.2.3.4", "01.2.3", "1.02.3", "1.2.3-01", "1.2.3-", "1.2.3+", "1.2.3beta", ""]
)
def test_tags_that_are_not_semantic_versions_have_no_key(tag):
    assert semver_key(tag) is None


@pytest.mark.parametrize(
    ("config", "tag", "matched"),
    [
        ("all", "anything", True),
        ("all", None, True),
        ("exact:stable", "stable", True),
        ("exact:stable", "stable-1", False),
        ("exact:v1.2.3", "1.2.3", False),
        ("glob:release-*", "release-2024.06", True),
        ("glob:release-*", "prerelease-1", False),  # the whole tag must match
        ("glob:release-?", "release-10", False),
        ("glob:Release-*", "release-1", False),  # case-sensitive, whatever the OS
        ("regex:^main-[0-9a-f]{7}$", "main-1a2b3c4", True),
        ("regex:main-[0-9a-f]{7}", "main-1a2b3c4-dirty", False),  # fullmatch, anchors or not
        ("regex:main-[0-9a-f]{7}", "xmain-1a2b3c4", False),
        ("semver:^1.2", "1.3.0", True),
        ("semver:^1.2", "latest", False),
    ],
)
def test_each_policy_kind(config, tag, matched):
    assert TagPolicy.parse(config).decide(tag).matched is matched


@pytest.mark.parametrize("config", ["exact:stable", "glob:*", "regex:.*", "semver:*"])
@pytest.mark.parametrize("tag", [None, ""])
def test_a_push_without_a_tag_matches_only_policy_all(config, tag):
    assert TagPolicy.parse(config).decide(tag) == TagDecision(False, "push without a tag; policy needs one")
    assert TagPolicy.parse("all").decide(tag).matched


def test_reasons_are_short_sentences_and_semver_decisions_carry_the_version():
    policy = TagPolicy.parse("semver:^1.2")
    assert policy.decide("1.3.0") == TagDecision(True, "tag 1.3.0 satisfies ^1.2", semver_key("1.3.0"))
    assert policy.decide("2.0.0") == TagDecision(False, "tag 2.0.0 is outside ^1.2", semver_key("2.0.0"))
    assert policy.decide("latest") == TagDecision(False, "tag latest is not a semantic version", None)
    rc = "tag 1.4.0-rc.1 is a pre-release and ^1.2 names no pre-release of 1.4.0"
    assert policy.decide("1.4.0-rc.1") == TagDecision(False, rc, semver_key("1.4.0-rc.1"))
    assert TagPolicy.parse("exact:stable").decide("stable") == TagDecision(True, "tag stable equals stable")
    assert TagPolicy.parse("glob:rel-*").decide("main").reason == "tag main does not match glob rel-*"
    assert TagPolicy.parse("all").decide(None).reason == "push without a tag; policy all follows it by digest"
    assert TagPolicy.parse("exact:v1.2.3").decide("v1.2.3").version is None


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("all", TagPolicy("all")),
        (" ALL ", TagPolicy("all")),
        ("exact:v1.2.3", TagPolicy("exact", "v1.2.3")),
        ("glob:release-*", TagPolicy("glob", "release-*")),
        ("regex:^main-[0-9a-f]{7}$", TagPolicy("regex", "^main-[0-9a-f]{7}$")),
        ("regex:a:b", TagPolicy("regex", "a:b")),  # only the first colon separates
        ("semver:^1.2", TagPolicy("semver", "^1.2")),
        ({"policy": "all"}, TagPolicy("all")),
        ({"policy": "exact", "tag": "stable"}, TagPolicy("exact", "stable")),
        ({"policy": "glob", "pattern": "release-*"}, TagPolicy("glob", "release-*")),
        ({"policy": "regex", "pattern": "^main-.*$"}, TagPolicy("regex", "^main-.*$")),
        ({"policy": "semver", "range": ">=1.2.0 <2"}, TagPolicy("semver", ">=1.2.0 <2")),
        ({"policy": "SemVer", "range": "^1"}, TagPolicy("semver", "^1")),
    ],
)
def test_config_strings_and_mappings_parse_to_policies(config, expected):
    policy = TagPolicy.parse(config)
    assert policy == expected
    assert hash(policy) == hash(expected)
    assert TagPolicy.parse(str(policy)) == policy  # str() is the shorthand, for logs and round trips
    assert TagPolicy.parse(policy) is policy


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("latest", r"unknown tag policy 'latest'.*exact:latest"),
        ("newest:1", "unknown tag policy 'newest:1'"),
        ("exact", "'exact' needs a tag"),
        ("exact:", "'exact' needs a tag"),
        ("glob:", "'glob' needs a pattern"),
        ("semver", "'semver' needs a range"),
        ("semver:  ", "'semver' needs a range"),
        ("regex:(", r"invalid pattern '\('"),
        ("regex:[a-", "invalid pattern"),
        ("semver:^1.2.", r"invalid semver range '\^1.2.': cannot read '\^1.2.'"),
        ("semver:>=1.2.3.4", "cannot read '>=1.2.3.4'"),
        ("semver:latest", "cannot read 'latest'"),
        ("semver:1.2.3beta", "cannot read '1.2.3beta'"),
        ("semver:>=01.2.3", "cannot read '>=01.2.3'"),
        ("semver:>= 1 <", "cannot read '<'"),
        ("semver:^1 ||", "empty alternative"),
        ("semver:||", "empty alternative"),
        ("semver:>=1 - 2", "cannot read hyphen range '>=1 - 2'"),
        ({"policy": "semver"}, "'semver' needs a range"),
        ({"policy": "semver", "pattern": "^1"}, r"'semver' takes only 'range'; unexpected 'pattern'"),
        ({"policy": "all", "tag": "x"}, "'all' takes no value; unexpected 'tag'"),
        ({"policy": "exact", "tag": 1.0}, "'tag' must be a string"),
        ({"policy": "bogus"}, "unknown tag policy 'bogus'"),
        ({"range": "^1"}, "needs 'policy'"),
        ({"policy": "semver", "range": "^1.x.y"}, "invalid semver range"),
        (None, "must be a string or a mapping, got NoneType"),
        (42, "got int"),
        (["all"], "got list"),
    ],
)
def test_bad_config_raises_config_error_naming_the_problem(config, message):
    with pytest.raises(ConfigError, match=message):
        TagPolicy.parse(config)


def test_direct_construction_is_validated_too():
    with pytest.raises(ConfigError, match="'all' takes no value"):
        TagPolicy("all", "x")
    with pytest.raises(ConfigError, match="unknown tag policy 'semvr'"):
        TagPolicy("semvr", "^1")


_prerelease = st.lists(st.sampled_from(["alpha", "beta", "rc", "0", "1", "11"]), min_size=1, max_size=3)


@given(
    base=st.tuples(st.integers(1, 3), st.integers(0, 3), st.integers(0, 3)),
    version=st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4)),
    pre=st.none() | _prerelease,
)
def test_caret_on_a_major_above_zero_means_same_major_at_least_the_base_and_no_prerelease(base, version, pre):
    tag = ".".join(map(str, version)) + (f"-{'.'.join(pre)}" if pre else "")
    expected = pre is None and version[0] == base[0] and version >= base
    assert TagPolicy("semver", "^{}.{}.{}".format(*base)).decide(tag).matched is expected
