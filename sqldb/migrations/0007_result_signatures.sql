-- Signed results: the hotkey that signed a result and its sr25519
-- signature over the result's agora-verdict-v1 digest (see
-- agora.Result.SigningBytes). Kept in columns of their own, out of the
-- body, so what is signed and the signature are stored apart. Empty for
-- results from clients that do not sign and for those stored before.
ALTER TABLE results ADD COLUMN signer TEXT NOT NULL DEFAULT '';
ALTER TABLE results ADD COLUMN signature TEXT NOT NULL DEFAULT '';
