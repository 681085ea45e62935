"""STAC providers: what reading one takes (offset rule, signing, concurrency), and profiles:
ready-made ``sources.stac`` settings, one YAML file per provider.

``sources.stac.profile: earth-search-c1`` reads ``config/stac_profiles/earth-search-c1.yaml``
(relative to the working directory, like every relative path in a config) and fills in what the
config leaves out: ``url``, ``collection``, ``asset_keys``, ``boa_offset``, ``signing``…
Keys the config gives win; ``asset_keys`` and ``signing`` are merged key by key, so
``signing: {token_url: …}`` changes the endpoint and keeps the profile's method. A profile may
also be given as the path of a YAML file (``profile: my/provider.yaml``).

This module needs no HTTP or raster library, so validating a config stays light; the token
machinery is in ``flows.signing``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pestcast.core.errors import ConfigError

__all__ = [
    "DEFAULT_CONCURRENT_READS",
    "PLANETARY_COMPUTER_TOKEN_URL",
    "PROFILE_DIR",
    "AssetAccess",
    "AssetSigning",
    "BoaOffsetRule",
    "apply_stac_profile",
    "read_stac_profile",
    "stac_profile_names",
]

PROFILE_DIR = Path("config/stac_profiles")
"""Folder of the named profiles, relative to the working directory (the project root)."""

MERGED_KEYS = frozenset({"asset_keys", "signing"})
"""Mappings merged key by key with the profile's, instead of replacing it whole."""

PLANETARY_COMPUTER_TOKEN_URL = "https://planetarycomputer.microsoft.com/api/sas/v1/token"
"""Planetary Computer's SAS token endpoint; a collection id is appended to it."""

DEFAULT_CONCURRENT_READS = 4
"""Assets (bands) of one scene read at once: over HTTP each read waits mostly on latency."""

BoaOffsetRule = Literal["earthsearch-flag", "baseline"]
"""How a source's BOA offset is decided: ``baseline`` from ``s2:processing_baseline`` alone
(raw DN: Planetary Computer, Earth Search ``sentinel-2-c1-l2a``); ``earthsearch-flag`` first
trusts ``earthsearch:boa_offset_applied: true`` (Earth Search ``sentinel-2-l2a``, whose COGs
are partly shifted already), else the baseline."""


class AssetSigning(BaseModel):
    """How a source's asset hrefs are signed before reading (``sources.stac.signing``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["none", "planetary-computer"] = "none"
    """``planetary-computer``: append a SAS token for the item's collection; ``none``: read the
    hrefs as they are."""
    token_url: str = PLANETARY_COMPUTER_TOKEN_URL
    """SAS token endpoint; ``GET {token_url}/{collection}`` gives a collection's token."""
    renew_before_expiry_s: Annotated[float, Field(ge=0, le=3600)] = 300
    """Seconds before its ``msft:expiry`` that a token is replaced by a new one: longer than
    any one scene read takes, so no read starts with a token about to expire."""
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 30
    """Seconds per token request (retried 3 times on 5xx, 429 and timeouts)."""

    @field_validator("token_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"token_url {url!r} is not an http(s) URL")
        return url.rstrip("/")


@dataclasses.dataclass(frozen=True)
class AssetAccess:
    """How a source's assets are read: what its provider asks of every reader."""

    signing: AssetSigning = dataclasses.field(default_factory=AssetSigning)
    """Signing of hrefs right before each read (Planetary Computer SAS tokens), or none."""
    max_concurrent_reads: int = DEFAULT_CONCURRENT_READS
    """Assets of one scene read at once (1 reads them one after another)."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_concurrent_reads <= 32:
            raise ConfigError(
                f"max_concurrent_reads {self.max_concurrent_reads} must be 1–32; "
                "set sources.stac.max_concurrent_reads"
            )


def stac_profile_names(directory: Path = PROFILE_DIR) -> list[str]:
    """Names of the profiles in ``directory`` (file names without ``.yaml``)."""
    return sorted(path.stem for path in directory.glob("*.yaml"))


def read_stac_profile(profile: str, *, directory: Path = PROFILE_DIR) -> dict[str, Any]:
    """The settings of ``profile``: a name in ``directory`` or the path of a YAML file.

    Raises ValueError saying where it looked and which profiles exist.
    """
    path = _profile_path(profile, directory)
    if not path.is_file():
        names = ", ".join(stac_profile_names(directory)) or "none"
        raise ValueError(
            f"no STAC profile {profile!r}: {path} does not exist (relative paths are resolved "
            f"against the working directory {Path.cwd()}); profiles in {directory}: {names}"
        )
    try:
        settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"STAC profile {path} cannot be read: {error}") from None
    if not isinstance(settings, dict):
        raise ValueError(f"STAC profile {path} must hold a mapping of sources.stac settings")
    return settings


def apply_stac_profile(raw: Any, *, allowed_keys: Collection[str]) -> Any:
    """``raw`` (the ``sources.stac`` mapping) completed from its ``profile``, if it names one.

    The profile may only set ``allowed_keys``; a key the config also gives keeps the config's
    value (mappings in :data:`MERGED_KEYS` are merged key by key, the config's keys winning).
    """
    if not isinstance(raw, Mapping) or raw.get("profile") is None:
        return raw
    profile = str(raw["profile"])
    settings = read_stac_profile(profile)
    unknown = sorted(set(settings) - set(allowed_keys))
    if unknown:
        raise ValueError(
            f"STAC profile {profile!r} sets unknown key(s) {', '.join(unknown)}; a profile "
            f"may set {', '.join(sorted(allowed_keys))}"
        )
    merged = {**settings, **raw}
    for key in MERGED_KEYS & settings.keys() & raw.keys():
        if isinstance(settings[key], Mapping) and isinstance(raw[key], Mapping):
            merged[key] = {**settings[key], **raw[key]}
    return merged


def _profile_path(profile: str, directory: Path) -> Path:
    if profile.endswith((".yaml", ".yml")) or "/" in profile:
        return Path(profile)
    return directory / f"{profile}.yaml"
