"""Trust verdicts: does a chain lead from each certificate to a trust anchor?

The policy, chosen on purpose (cryptography's defaults are the Web PKI's, which reject many
legitimate internal and client certificates):

- Chains are built link by link from every scanned certificate; several candidates per
  issuer name (re-issued and cross-signed CAs) are tried, the authority/subject key
  identifiers narrowing them when both are present, and loops are cut.
- Each link is checked once per scan by ``cryptography.x509.verification`` with the issuer as
  the only trust anchor: the signature, the signature algorithm (MD5 and SHA-1 are refused,
  as modern TLS libraries do), the issuer's key size, the issuer being a CA
  (basicConstraints) and both being valid at the time.  The extension policies are
  ``permit_all`` for CA and end-entity certificates alike: certdeck judges whether a chain
  exists, not whether a certificate suits the Web PKI (missing key identifiers, no SAN, or
  a clientAuth-only EKU are normal for internal PKIs and client certificates; the TLS probe
  checks host names).  The same policy therefore serves CAs and leaves, server, client and
  other roles alike.
- A certificate's *own* validity period is not part of the verdict: ``expired`` and
  ``not_yet_valid`` say that.  Every issuer above it must be valid at the evaluation time
  ("expired link in the chain").
- Trust anchors (the system trust store and ``trust.anchors``) are trusted as themselves.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.verification import (
    ClientVerifier,
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from core.model import CertFacts
from core.parse import signed_by

__all__ = ["TrustEvaluator", "Verdict"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a certificate chains to a trust anchor, how, or why not."""

    trusted: bool
    chain: tuple[str, ...] = ()
    """SHA-256 fingerprints from the certificate to its anchor (when trusted)."""
    reason: str = ""
    """Why no chain was found, in words a sysadmin understands (when not trusted)."""


def _date(when: datetime) -> str:
    return when.strftime("%Y-%m-%d")


def _translate(error: str) -> str:
    """cryptography's verifier messages, put into words."""
    text = error.removeprefix("validation failed: ")
    text = text.split(" (encountered processing")[0]
    table = {
        "signature algorithm": "its signature algorithm is not accepted",
        "basicConstraints.cA must be asserted": "the issuer is not a CA (basicConstraints)",
        "not valid at validation time": "not valid at the evaluation time",
        "name constraint": "the name is outside the issuer's name constraints",
        "RSA key": "the issuer's RSA key is too small",
        "path length": "the chain is longer than a CA's path length allows",
        "keyCertSign": "the issuer's key usage does not allow signing certificates",
    }
    for needle, words in table.items():
        if needle in text:
            return f"{words} ({text})"
    if "signature" in text.lower():
        return f"the signature does not verify with the issuer's key ({text})"
    return text


class TrustEvaluator:
    """Builds chains for a set of certificates at one evaluation time.

    Args:
        certs: every scanned certificate (each a candidate intermediate).
        anchors: fingerprints of the trust anchors among them.
        now: the evaluation time.
        links: checked links, shared between evaluations (a rescan checks no signature
            twice).  A link's result depends on the time only through the issuer being
            valid then, which is part of the key.
    """

    def __init__(
        self,
        certs: Iterable[CertFacts],
        anchors: set[str],
        *,
        now: datetime,
        links: dict[tuple[str, str, bool], str | None] | None = None,
    ) -> None:
        self.now = now
        self.anchors = anchors
        self.facts: dict[str, CertFacts] = {}
        self.by_subject: dict[bytes, list[CertFacts]] = defaultdict(list)
        for f in certs:
            if f.sha256 not in self.facts:
                self.facts[f.sha256] = f
                self.by_subject[f.subject_der].append(f)
        self._loaded: dict[str, x509.Certificate] = {}
        self._verifiers: dict[tuple[str, datetime], ClientVerifier] = {}
        self._links = links if links is not None else {}
        self._verdicts: dict[str, Verdict] = {}
        self._ee_policy = ExtensionPolicy.permit_all()
        # cryptography insists that a CA policy requires basicConstraints; issuers are checked
        # for it below too, because an issuer that is the verifier's anchor is not.
        self._ca_policy = ExtensionPolicy.permit_all().require_present(
            x509.BasicConstraints, Criticality.AGNOSTIC, None
        )
        self.signature_checks = 0

    def _cert(self, f: CertFacts) -> x509.Certificate:
        cert = self._loaded.get(f.sha256)
        if cert is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                cert = x509.load_der_x509_certificate(f.der)
            self._loaded[f.sha256] = cert
        return cert

    def _at(self, f: CertFacts) -> datetime:
        """The time a link is checked at: now, moved into the child's own validity."""
        if self.now > f.not_after:
            return f.not_after - timedelta(seconds=1)
        if self.now < f.not_before:
            return f.not_before + timedelta(seconds=1)
        return self.now

    def _verifier(self, issuer: CertFacts, at: datetime) -> ClientVerifier:
        key = (issuer.sha256, at)
        verifier = self._verifiers.get(key)
        if verifier is None:
            verifier = (
                PolicyBuilder()
                .store(Store([self._cert(issuer)]))
                .time(at)
                .extension_policies(ca_policy=self._ca_policy, ee_policy=self._ee_policy)
                .build_client_verifier()
            )
            self._verifiers[key] = verifier
        return verifier

    def link_problem(self, child: CertFacts, issuer: CertFacts) -> str | None:
        """Why ``issuer`` cannot be the issuer of ``child`` (None when it can), memoised.

        The link is checked at a time both certificates are valid (now when possible): their
        validity at the evaluation time is judged elsewhere (``expired``, "expired link").
        When they never were valid together, only the signature is checked.
        """
        at = self._at(child)
        start = max(child.not_before, issuer.not_before)
        end = min(child.not_after, issuer.not_after)
        if not issuer.not_before <= at <= issuer.not_after and start <= end:
            at = min(max(at, start), end)
        overlap = issuer.not_before <= at <= issuer.not_after
        key = (child.sha256, issuer.sha256, overlap)
        if key in self._links:
            return self._links[key]
        problem: str | None = None
        anchor_root = issuer.sha256 in self.anchors and issuer.self_signed
        if not issuer.is_ca and not anchor_root:  # old v1 roots in trust stores have no BC
            problem = "the issuer is not a CA (basicConstraints)"
        elif issuer.key_usage and "keyCertSign" not in issuer.key_usage:
            problem = "the issuer's key usage does not allow signing certificates"
        elif not overlap:
            self.signature_checks += 1
            if not signed_by(self._cert(child), self._cert(issuer).public_key()):
                problem = "the signature does not verify with the issuer's key"
        else:
            self.signature_checks += 1
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                    self._verifier(issuer, at).verify(self._cert(child), [])
            except VerificationError as exc:
                problem = _translate(str(exc))
            except Exception as exc:  # unsupported key or algorithm
                problem = f"cannot be checked: {exc}"
        self._links[key] = problem
        return problem

    def _candidates(self, f: CertFacts) -> list[CertFacts]:
        found = [c for c in self.by_subject.get(f.issuer_der, ()) if c.sha256 != f.sha256]
        if f.authority_key_id:
            matching = [c for c in found if c.subject_key_id in (None, f.authority_key_id)]
            found = matching or found
        # Anchors first, then issuers valid now, then the newest.
        return sorted(
            found,
            key=lambda c: (
                c.sha256 not in self.anchors,
                not c.not_before <= self.now <= c.not_after,
                -c.not_before.timestamp(),
                c.sha256,
            ),
        )

    def verdict(self, sha256: str) -> Verdict:
        """The verdict for one certificate (by fingerprint)."""
        return self._verdict(self.facts[sha256], frozenset())

    def _verdict(self, f: CertFacts, visiting: frozenset[str]) -> Verdict:
        done = self._verdicts.get(f.sha256)
        if done is not None:
            return done
        result = self._evaluate(f, visiting | {f.sha256})
        if (
            not visiting or result.trusted
        ):  # results reached through a cut loop may be partial: keep only roots'
            self._verdicts[f.sha256] = result
        return result

    def _evaluate(self, f: CertFacts, visiting: frozenset[str]) -> Verdict:
        if f.sha256 in self.anchors:
            return Verdict(True, (f.sha256,))
        candidates = self._candidates(f)
        if not candidates:
            if f.self_signed:
                return Verdict(
                    False,
                    reason="self-signed and not in the trust store: clients trust it "
                    "only if it is installed in theirs",
                )
            return Verdict(
                False,
                reason=f"issuer not found: {f.issuer} is not in the trust store and was not "
                "found on this machine",
            )
        reasons: list[str] = []
        for issuer in candidates:
            if issuer.sha256 in visiting:
                reasons.append(f"the chain through {issuer.subject} loops back")
                continue
            problem = self.link_problem(f, issuer)
            if problem is not None:
                reasons.append(f"issuer {issuer.subject}: {problem}")
                continue
            if not issuer.not_before <= self.now <= issuer.not_after:
                when = issuer.not_after if self.now > issuer.not_after else issuer.not_before
                verb = "expired on" if self.now > issuer.not_after else "is not valid before"
                reasons.append(
                    f"expired link in the chain: the issuer {issuer.subject} {verb} {_date(when)}"
                )
                continue
            above = self._verdict(issuer, visiting)
            if above.trusted:
                return Verdict(True, (f.sha256, *above.chain))
            reasons.append(f"its issuer {issuer.subject} is untrusted: {above.reason}")
        return Verdict(False, reason=reasons[0] if len(reasons) == 1 else "; ".join(reasons))

    def evaluate_all(self, order: Sequence[str] | None = None) -> dict[str, Verdict]:
        """Verdicts for every certificate."""
        return {sha: self.verdict(sha) for sha in (order or list(self.facts))}
