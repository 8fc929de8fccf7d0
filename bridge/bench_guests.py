"""The guests `bridge bench` makes the way users make theirs: `bridge init` and `bridge gen`.

Each is a project implementing `pricing.v1.Pricing` (proto/examples/pricing/v1/pricing.proto),
in Go or in Rust, made in the bench's cache by the real commands: `bridge init` once (again
when bridge's version changes), then this module writes the one file that is the user's
(main.go or src/lib.rs, below: Quote and NormalizeSku written on the generated types, the
way examples/rust-pricing writes them by hand), and `bridge gen` refreshes the glue and the
vendored SDK on every run, so the figures follow bridge's code generation as it is now.
`bridge build` then builds it (incrementally).

Quote is the headline's call; NormalizeSku, whose loop runs over the request's SKU, is the
threads figures' call of a length the request sets.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ._version import __version__
from .atomic import write_atomic
from .errors import ProjectError

__all__ = ["GO_MAIN", "RUST_LIB", "SERVICE", "make_project"]

SERVICE = "pricing.v1.Pricing"
# The file of the project's that says which bridge made it (init runs again on a change).
_MARK = ".bench-made-by"

GO_MAIN = """\
// The bench's Go guest: pricing.v1.Pricing on the glue `bridge gen` writes
// (bridge/bench_guests.py writes this file; `bridge init` made the project).
package main

import (
	"bridge.dev/guest"

	"{glue}"
)

func main() {{}}

type server struct{{}}

// isSkuSpace: the ASCII whitespace a SKU is split on (space, \\t, \\n, \\r, \\v, \\f).
func isSkuSpace(c byte) bool {{
	return c == ' ' || c == '\\t' || c == '\\n' || c == '\\r' || c == '\\v' || c == '\\f'
}}

// normalize: whitespace-separated parts joined with "-", ASCII letters upper-cased.
func normalize(sku string) string {{
	out := make([]byte, 0, len(sku))
	for i := 0; i < len(sku); {{
		for i < len(sku) && isSkuSpace(sku[i]) {{
			i++
		}}
		start := i
		for i < len(sku) && !isSkuSpace(sku[i]) {{
			i++
		}}
		if i > start {{
			if len(out) > 0 {{
				out = append(out, '-')
			}}
			for _, c := range []byte(sku[start:i]) {{
				if 'a' <= c && c <= 'z' {{
					c -= 'a' - 'A'
				}}
				out = append(out, c)
			}}
		}}
	}}
	return string(out)
}}

func (server) Quote(req *bridgegen.QuoteRequest) (*bridgegen.QuoteResponse, error) {{
	sku := normalize(req.Sku)
	if sku == "" {{
		return nil, guest.Errorf(guest.CodeInvalidArgument, "sku is required")
	}}
	if req.Quantity == 0 {{
		return nil, guest.Errorf(guest.CodeInvalidArgument, "quantity must be at least 1")
	}}
	if req.UnitPriceCents < 0 {{
		return nil, guest.Errorf(guest.CodeInvalidArgument, "unit_price_cents must not be negative")
	}}
	q := int64(req.Quantity)
	if req.UnitPriceCents != 0 && req.UnitPriceCents > (1<<63-1)/q {{
		return nil, guest.Errorf(guest.CodeInvalidArgument, "subtotal overflows int64")
	}}
	subtotal := req.UnitPriceCents * q
	var discount int64
	if req.Quantity >= 10 {{
		discount = subtotal / 10
	}}
	resp := &bridgegen.QuoteResponse{{
		Sku:           sku,
		SubtotalCents: subtotal,
		DiscountCents: discount,
		TotalCents:    subtotal - discount,
		Currency:      req.Currency,
	}}
	if resp.Currency == "" {{
		resp.Currency = "USD"
	}}
	if discount > 0 {{
		resp.Notes = []string{{"volume discount 10%"}}
	}}
	return resp, nil
}}

func (server) NormalizeSku(
	req *bridgegen.NormalizeSkuRequest,
) (*bridgegen.NormalizeSkuResponse, error) {{
	return &bridgegen.NormalizeSkuResponse{{Sku: normalize(req.Sku)}}, nil
}}

func (server) Lookup(req *bridgegen.LookupRequest) (*bridgegen.LookupResponse, error) {{
	return nil, guest.Errorf(guest.CodeUnimplemented, "the bench's guest has no catalogue")
}}

func init() {{
	bridgegen.RegisterPricingServer(server{{}})
}}
"""

RUST_LIB = """\
//! The bench's Rust guest: pricing.v1.Pricing on the glue `bridge gen` writes
//! (bridge/bench_guests.py writes this file; `bridge init` made the project).

mod bridge_gen;

use bridge_gen::pricing::v1::{
    LookupRequest, LookupResponse, NormalizeSkuRequest, NormalizeSkuResponse, Pricing,
    QuoteRequest, QuoteResponse,
};
use bridge_guest::{Code, Status};

pub struct Service;

/// The ASCII whitespace a SKU is split on: space, \\t, \\n, \\r, \\v and \\f.
fn is_sku_space(c: char) -> bool {
    matches!(c, ' ' | '\\t' | '\\n' | '\\r' | '\\x0B' | '\\x0C')
}

/// Whitespace-separated parts joined with `-`, ASCII letters upper-cased.
fn normalize(sku: &str) -> String {
    let mut out = String::with_capacity(sku.len());
    for part in sku.split(is_sku_space).filter(|part| !part.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(part);
    }
    out.make_ascii_uppercase();
    out
}

fn invalid(message: &str) -> Status {
    Status::new(Code::InvalidArgument, message)
}

impl Pricing for Service {
    fn quote(&self, request: QuoteRequest) -> Result<QuoteResponse, Status> {
        let sku = normalize(&request.sku);
        if sku.is_empty() {
            return Err(invalid("sku is required"));
        }
        if request.quantity == 0 {
            return Err(invalid("quantity must be at least 1"));
        }
        if request.unit_price_cents < 0 {
            return Err(invalid("unit_price_cents must not be negative"));
        }
        let subtotal = request
            .unit_price_cents
            .checked_mul(i64::from(request.quantity))
            .ok_or_else(|| invalid("subtotal overflows int64"))?;
        let discount = if request.quantity >= 10 { subtotal / 10 } else { 0 };
        let mut notes = Vec::new();
        if discount > 0 {
            notes.push("volume discount 10%".to_string());
        }
        let currency = if request.currency.is_empty() {
            "USD".to_string()
        } else {
            request.currency
        };
        Ok(QuoteResponse {
            sku,
            subtotal_cents: subtotal,
            discount_cents: discount,
            total_cents: subtotal - discount,
            currency,
            notes,
            ..Default::default()
        })
    }

    fn normalize_sku(&self, request: NormalizeSkuRequest) -> Result<NormalizeSkuResponse, Status> {
        Ok(NormalizeSkuResponse {
            sku: normalize(&request.sku),
            ..Default::default()
        })
    }

    fn lookup(&self, _request: LookupRequest) -> Result<LookupResponse, Status> {
        Err(Status::new(Code::Unimplemented, "the bench's guest has no catalogue"))
    }
}

bridge_gen::pricing::v1::export_pricing!(Service);
"""


def make_project(language: str, proto: Path, include: Path, project: Path) -> Path:
    """The bench's guest project in `language` ("go" or "rust") at `project`, made by
    `bridge init` (when missing, or made by another bridge), its user file written, its
    glue refreshed by `bridge gen`; `project`. ProjectError when a command fails."""
    mark = project / _MARK
    if project.exists() and (not mark.is_file() or mark.read_text() != __version__):
        shutil.rmtree(project)
    if not project.exists():
        project.parent.mkdir(parents=True, exist_ok=True)
        _bridge("init", language, "-I", include, proto, "--service", SERVICE, "--dir", project)
        write_atomic(mark, __version__)
    if language == "go":
        user = project / "main.go"
        glue = project.name  # init names the module bridge.local/<folder>
        made = user.read_text()
        for line in made.splitlines():  # the glue's import path, as init wrote it
            if line.strip().endswith('/bridgegen"'):
                glue = line.strip().strip('"')
        text = GO_MAIN.format(glue=glue) if glue.endswith("/bridgegen") else made
        out_flag = ["--go-out", project / "bridgegen", "--service", SERVICE]
    else:
        user = project / "src" / "lib.rs"
        text = RUST_LIB
        out_flag = ["--rust-out", project / "src"]
    if not user.is_file() or user.read_text() != text:
        write_atomic(user, text)
    _bridge("gen", "-I", include, proto, *out_flag)
    return project


def _bridge(*args: object) -> None:
    """Run a bridge command as a user would, in a process of its own."""
    command = [sys.executable, "-m", "bridge", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise ProjectError(f"bridge bench: `bridge {args[0]}` failed: {tail}", path=str(args[-1]))
