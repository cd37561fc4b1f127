//! RFC 6962 Merkle trees over an origin's log, beside its BLAKE3 chain.
//!
//! The chain proves order to whoever holds every entry. The tree lets a log be
//! summed up in a checkpoint (`checkpoint.rs`) that C2SP tools and witnesses
//! understand, and lets two checkpoints of different sizes be proven
//! consistent without the entries in between. Leaf *i* is the header bytes of
//! the entry at seq *i* + 1, so the tree size is the head seq.
//!
//! Hashes are SHA-256 with the RFC 6962 domain prefixes (0x00 for leaves,
//! 0x01 for interior nodes), as the C2SP checkpoint format requires.
//!
//! A node keeps only a [`CompactRange`] per origin: the roots of the perfect
//! subtrees that make up `[0, size)`, at most 64 hashes. Appending a leaf
//! touches O(log n) of them. Proofs are computed from leaf hashes on demand
//! ([`consistency_proof`]).

use sha2::{Digest, Sha256};

/// A SHA-256 Merkle hash.
pub type MerkleHash = [u8; 32];

/// The hash of an empty tree: SHA-256 of nothing.
pub fn empty_root() -> MerkleHash {
    Sha256::digest([]).into()
}

/// The RFC 6962 leaf hash: SHA-256(0x00 || leaf).
pub fn leaf_hash(leaf: &[u8]) -> MerkleHash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(leaf);
    hasher.finalize().into()
}

/// The RFC 6962 interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &MerkleHash, right: &MerkleHash) -> MerkleHash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// Why a tree operation or proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("a compact range of size {size} needs {expected} hashes, not {found}")]
    WrongHashCount {
        size: u64,
        expected: usize,
        found: usize,
    },
    #[error("a stored compact range must be 8 bytes of size and then 32-byte hashes")]
    BadEncoding,
    #[error("a consistency proof needs 0 < old size ({old}) <= new size ({new})")]
    BadSizes { old: u64, new: u64 },
    #[error("the consistency proof from {old} to {new} leaves does not match the two roots")]
    Inconsistent { old: u64, new: u64 },
    #[error("only {held} leaves are held, {needed} are needed")]
    NotEnoughLeaves { held: u64, needed: u64 },
}

/// The roots of the perfect subtrees covering `[0, size)`, largest first: one
/// per set bit of `size`. This is all a node stores of an origin's tree.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<MerkleHash>,
}

impl std::fmt::Debug for CompactRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactRange")
            .field("size", &self.size)
            .field("root", &hex(&self.root()))
            .finish()
    }
}

impl CompactRange {
    /// The range of an empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A range from its size and subtree roots (largest first).
    pub fn from_parts(size: u64, hashes: Vec<MerkleHash>) -> Result<Self, MerkleError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(MerkleError::WrongHashCount {
                size,
                expected,
                found: hashes.len(),
            });
        }
        Ok(Self { size, hashes })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first.
    pub fn hashes(&self) -> &[MerkleHash] {
        &self.hashes
    }

    /// Adds a leaf, given its leaf hash.
    pub fn append(&mut self, leaf: MerkleHash) {
        let mut hash = leaf;
        // Merge with the right-most subtrees of equal size: one per trailing
        // one bit of the old size.
        let mut size = self.size;
        while size & 1 == 1 {
            let left = self.hashes.pop().unwrap_or_default();
            hash = node_hash(&left, &hash);
            size >>= 1;
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The tree's root: the subtree roots folded from the right.
    pub fn root(&self) -> MerkleHash {
        let mut iter = self.hashes.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }

    /// The stored form: the size (8 bytes, big-endian), then the hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 * self.hashes.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        for hash in &self.hashes {
            out.extend_from_slice(hash);
        }
        out
    }

    /// Reads the stored form back, checking its shape.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MerkleError> {
        let (size, rest) = bytes
            .split_first_chunk::<8>()
            .ok_or(MerkleError::BadEncoding)?;
        if rest.len() % 32 != 0 {
            return Err(MerkleError::BadEncoding);
        }
        let hashes = rest
            .chunks_exact(32)
            .map(|chunk| chunk.try_into().map_err(|_| MerkleError::BadEncoding))
            .collect::<Result<_, _>>()?;
        Self::from_parts(u64::from_be_bytes(*size), hashes)
    }
}

/// The root of the tree over `leaves` (leaf hashes): RFC 6962's MTH.
pub fn root_of(leaves: &[MerkleHash]) -> MerkleHash {
    match leaves {
        [] => empty_root(),
        [one] => *one,
        _ => {
            let k = split_point(leaves.len() as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// The largest power of two smaller than `n` (n > 1).
fn split_point(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// The RFC 6962 consistency proof from the tree over the first `old` leaves to
/// the tree over all of `leaves` (section 2.1.2, PROOF(m, D[n])).
pub fn consistency_proof(old: u64, leaves: &[MerkleHash]) -> Result<Vec<MerkleHash>, MerkleError> {
    let new = leaves.len() as u64;
    if old == 0 || old > new {
        return Err(MerkleError::BadSizes { old, new });
    }
    let mut proof = Vec::new();
    subproof(old, leaves, true, &mut proof);
    Ok(proof)
}

fn subproof(m: u64, leaves: &[MerkleHash], complete: bool, proof: &mut Vec<MerkleHash>) {
    let n = leaves.len() as u64;
    if m == n {
        if !complete {
            proof.push(root_of(leaves));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, &leaves[..k as usize], complete, proof);
        proof.push(root_of(&leaves[k as usize..]));
    } else {
        subproof(m - k, &leaves[k as usize..], false, proof);
        proof.push(root_of(&leaves[..k as usize]));
    }
}

/// Checks an RFC 6962 consistency proof between the tree of `old` leaves with
/// `old_root` and the tree of `new` leaves with `new_root` (the algorithm of
/// RFC 9162, section 2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &MerkleHash,
    new_root: &MerkleHash,
    proof: &[MerkleHash],
) -> Result<(), MerkleError> {
    let inconsistent = MerkleError::Inconsistent { old, new };
    if old == 0 || old > new {
        return Err(MerkleError::BadSizes { old, new });
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(inconsistent)
        };
    }
    // The proof must reproduce both roots: the new one (checked by
    // `proven_old_root`), and from the same path the old one.
    match proven_old_root(old, new, new_root, proof, old_root) {
        Ok(root) if &root == old_root => Ok(()),
        _ => Err(inconsistent),
    }
}

/// The root of the first `old` leaves of the tree of `new` leaves whose root
/// is `new_root`, as an RFC 6962 consistency proof shows it: `Ok` only when
/// the proof reproduces `new_root`, so whoever made it knew that tree's
/// hashes, and the root returned is that tree's (short of a SHA-256
/// collision). When `old` is a power of two the RFC proof omits the hash of
/// those first leaves; `old_subtree` supplies it (the prover's root at
/// `old`), and is ignored otherwise. A result that is not the root of a
/// checkpoint of size `old` proves the two checkpoints inconsistent; an
/// `Err` proves only that the proof is wrong.
pub fn proven_old_root(
    old: u64,
    new: u64,
    new_root: &MerkleHash,
    proof: &[MerkleHash],
    old_subtree: &MerkleHash,
) -> Result<MerkleHash, MerkleError> {
    let inconsistent = MerkleError::Inconsistent { old, new };
    if old == 0 || old >= new {
        return Err(MerkleError::BadSizes { old, new });
    }
    if proof.is_empty() {
        return Err(inconsistent);
    }
    let mut path: Vec<MerkleHash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_subtree);
    }
    path.extend_from_slice(proof);
    let mut fn_ = old - 1;
    let mut sn = new - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut iter = path.iter();
    let first = iter.next().ok_or_else(|| inconsistent.clone())?;
    let (mut fr, mut sr) = (*first, *first);
    for c in iter {
        if sn == 0 {
            return Err(inconsistent);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && &sr == new_root {
        Ok(fr)
    } else {
        Err(inconsistent)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_shows_the_old_root_of_the_tree_it_reproduces() {
        let leaves: Vec<MerkleHash> = (0u8..13).map(|i| leaf_hash(&[i])).collect();
        let mut forked = leaves.clone();
        forked[2] = leaf_hash(b"fork");
        for old in 1..13u64 {
            let k = old as usize;
            // Consistent: the old root of the same tree.
            let proof = consistency_proof(old, &leaves).unwrap();
            let root = root_of(&leaves);
            let subtree = root_of(&leaves[..k]);
            assert_eq!(
                proven_old_root(old, 13, &root, &proof, &subtree).unwrap(),
                root_of(&leaves[..k])
            );
            // A fork: the proof reproduces the forked tree's root, and the
            // old root it shows is not the honest one (when the fork is
            // within the first `old` leaves).
            let proof = consistency_proof(old, &forked).unwrap();
            let forked_root = root_of(&forked);
            let shown =
                proven_old_root(old, 13, &forked_root, &proof, &root_of(&forked[..k])).unwrap();
            assert_eq!(shown == root_of(&leaves[..k]), k <= 2, "old = {old}");
            // A proof for another tree, or garbage, shows nothing.
            assert!(proven_old_root(old, 13, &root, &proof, &root_of(&forked[..k])).is_err());
            let garbage = vec![leaf_hash(b"x"); proof.len()];
            assert!(proven_old_root(old, 13, &root, &garbage, &subtree).is_err());
        }
    }

    /// The leaves of the RFC 6962 reference test data (certificate-transparency).
    fn reference_leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| from_hex(h))
        .collect()
    }

    fn from_hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn h(text: &str) -> MerkleHash {
        from_hex(text).try_into().expect("32 bytes")
    }

    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn roots_match_the_rfc6962_reference_data() {
        let leaves: Vec<MerkleHash> = reference_leaves().iter().map(|l| leaf_hash(l)).collect();
        let mut range = CompactRange::new();
        assert_eq!(
            range.root(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        for (i, leaf) in leaves.iter().enumerate() {
            range.append(*leaf);
            assert_eq!(range.size(), i as u64 + 1);
            assert_eq!(
                hex(&range.root()),
                ROOTS[i],
                "compact range, size {}",
                i + 1
            );
            assert_eq!(
                hex(&root_of(&leaves[..=i])),
                ROOTS[i],
                "MTH, size {}",
                i + 1
            );
            assert_eq!(range.hashes().len(), (i + 1).count_ones() as usize);
        }
    }

    #[test]
    fn consistency_proofs_match_the_reference_data_and_verify() {
        let leaves: Vec<MerkleHash> = reference_leaves().iter().map(|l| leaf_hash(l)).collect();
        let expected: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, want) in expected {
            let proof = consistency_proof(old, &leaves[..new as usize]).expect("proof");
            let proof_hex: Vec<String> = proof.iter().map(|p| hex(p)).collect();
            assert_eq!(proof_hex, want, "proof {old} -> {new}");
        }
        // Every pair verifies; every altered proof or root is refused.
        for new in 1..=8u64 {
            let new_root = root_of(&leaves[..new as usize]);
            for old in 1..=new {
                let old_root = root_of(&leaves[..old as usize]);
                let proof = consistency_proof(old, &leaves[..new as usize]).expect("proof");
                verify_consistency(old, new, &old_root, &new_root, &proof)
                    .unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
                let mut wrong = old_root;
                wrong[0] ^= 1;
                assert!(verify_consistency(old, new, &wrong, &new_root, &proof).is_err());
                assert!(verify_consistency(old, new, &old_root, &wrong, &proof).is_err());
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][31] ^= 0x80;
                    assert!(
                        verify_consistency(old, new, &old_root, &new_root, &bad).is_err(),
                        "{old} -> {new}, proof hash {i} flipped"
                    );
                }
                if !proof.is_empty() {
                    let short = &proof[..proof.len() - 1];
                    assert!(verify_consistency(old, new, &old_root, &new_root, short).is_err());
                }
            }
        }
    }

    #[test]
    fn a_compact_range_round_trips_and_refuses_bad_shapes() {
        let mut range = CompactRange::new();
        for i in 0..1000u32 {
            range.append(leaf_hash(&i.to_be_bytes()));
            let back = CompactRange::from_bytes(&range.to_bytes()).expect("round trip");
            assert_eq!(back, range);
        }
        let bytes = range.to_bytes();
        assert_eq!(
            CompactRange::from_bytes(&bytes[..bytes.len() - 1]),
            Err(MerkleError::BadEncoding)
        );
        assert!(matches!(
            CompactRange::from_bytes(&bytes[..bytes.len() - 32]),
            Err(MerkleError::WrongHashCount { .. })
        ));
        assert_eq!(
            CompactRange::from_bytes(&[0; 7]),
            Err(MerkleError::BadEncoding)
        );
    }

    #[test]
    fn bad_sizes_are_refused() {
        let leaves = [leaf_hash(b"a"), leaf_hash(b"b")];
        assert!(matches!(
            consistency_proof(0, &leaves),
            Err(MerkleError::BadSizes { .. })
        ));
        assert!(matches!(
            consistency_proof(3, &leaves),
            Err(MerkleError::BadSizes { .. })
        ));
        let root = root_of(&leaves);
        assert!(verify_consistency(3, 2, &root, &root, &[]).is_err());
        assert!(verify_consistency(0, 2, &root, &root, &[]).is_err());
    }
}
