package hotkey

import (
	"errors"
	"fmt"

	"github.com/agoranet/agora"
)

// SignResult signs r as s for the replay spec whose hash is specHash: it
// sets r.Signer to s's address and r.Signature to the signature of
// r.SigningDigest(specHash). r.Validator must already be s's address (the
// coordinator sets a result's validator from the request's signer, and
// the digest covers it).
func SignResult(s *Signer, specHash string, r *agora.Result) error {
	if r.Validator != s.Address() {
		return fmt.Errorf("sign result: validator %q is not the signer %s", r.Validator, s.Address())
	}
	d := r.SigningDigest(specHash)
	sig, err := s.Sign(d[:])
	if err != nil {
		return fmt.Errorf("sign result: %w", err)
	}
	r.Signer, r.Signature = s.Address(), FormatSignature(sig)
	return nil
}

// ErrUnsigned is VerifyResult's error for a result that carries no
// signature.
var ErrUnsigned = errors.New("result is unsigned")

// VerifyResult checks r's signature for the replay spec whose hash is
// specHash. It returns nil, ErrUnsigned, or an error wrapping
// ErrBadSignature whose message says what is wrong: a signer other than
// the validator, a malformed signature, or one that does not match what
// the result says (tests, metrics, status, spec, submission, validator).
func VerifyResult(specHash string, r *agora.Result) error {
	if r.Signature == "" && r.Signer == "" {
		return ErrUnsigned
	}
	if r.Signer != r.Validator {
		return fmt.Errorf("signer %q is not the result's validator %q: %w", r.Signer, r.Validator, ErrBadSignature)
	}
	sig, err := ParseSignature(r.Signature)
	if err != nil {
		return err
	}
	d := r.SigningDigest(specHash)
	if err := Verify(r.Signer, d[:], sig); err != nil {
		if errors.Is(err, ErrBadSignature) {
			return fmt.Errorf("signature of %s does not match the result (%s): %w", r.Signer, agora.ResultSigningVersion, ErrBadSignature)
		}
		return fmt.Errorf("signer: %w", err)
	}
	return nil
}
