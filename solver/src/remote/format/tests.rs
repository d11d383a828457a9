//! Round trips of the cache config format, and what other tools write into it.

use super::*;

fn layer(n: u8) -> Layer {
    Layer {
        diff_id: Digest::of_bytes(&[b'd', n]),
        blob: Digest::of_bytes(&[b'b', n]),
        size: 100 + n as u64,
        media_type: crate::local::chain::LAYER_MEDIA_TYPE.into(),
        created: Some(1_700_000_000 + i64::from(n)),
    }
}

fn key(s: &str) -> CacheKey {
    CacheKey::from_stored(Digest::of_bytes(s.as_bytes()).to_string())
}

#[test]
fn round_trips_chains_sharing_a_bottom() {
    let a = CacheEntry {
        key: key("a"),
        inputs: vec![],
        chain: Chain {
            layers: vec![layer(1), layer(2)],
        },
    };
    let b = CacheEntry {
        key: key("b"),
        inputs: vec![key("a")],
        chain: Chain {
            layers: vec![layer(1), layer(2), layer(3)],
        },
    };
    let empty = CacheEntry {
        key: key("e"),
        inputs: vec![],
        chain: Chain::default(),
    };
    let (config, blobs) = encode(&[a.clone(), b.clone(), empty.clone()]);
    assert_eq!(
        config.layers.len(),
        3,
        "shared bottom layers are listed once"
    );
    assert_eq!(blobs.len(), 3);
    assert_eq!(config.records.len(), 3, "the empty result is a record too");
    assert_eq!(
        config.records[1].inputs,
        vec![vec![CacheInput {
            selector: String::new(),
            link: 0
        }]]
    );
    let json = serde_json::to_vec(&config).unwrap();
    let back: CacheConfig = serde_json::from_slice(&json).unwrap();
    let decoded = decode(&back, &layer_descriptors(&blobs)).unwrap();
    assert_eq!(decoded.len(), 3);
    assert_eq!(decoded[&a.key], a.chain);
    assert_eq!(decoded[&b.key], b.chain);
    assert_eq!(decoded[&empty.key], Chain::default());
    let json = String::from_utf8(json).unwrap();
    assert!(
        json.contains(r#""chains":[{"layers":[]}]"#),
        "an empty result is BuildKit's empty chain: {json}"
    );
}

#[test]
fn a_record_without_any_result_is_not_an_empty_hit() {
    // BuildKit writes records that only link others; they must not read as "no files".
    let config: CacheConfig =
        serde_json::from_str(r#"{"records":[{"digest":"sha256:01"}]}"#).unwrap();
    assert!(decode(&config, &[]).unwrap().is_empty());
    // A chain naming a layer the document lacks is dropped, not shortened.
    let config: CacheConfig =
        serde_json::from_str(r#"{"records":[{"digest":"sha256:02","chains":[{"layers":[3]}]}]}"#)
            .unwrap();
    assert!(decode(&config, &[]).unwrap().is_empty());
}

#[test]
fn reads_buildkit_field_names() {
    let l = layer(1);
    let doc = format!(
        r#"{{"layers":[{{"blob":"{}","parent":-1}}],"records":[{{"digest":"sha256:00","layers":[{{"layer":0,"createdAt":"2024-01-01T00:00:00Z"}}]}}]}}"#,
        l.blob
    );
    let config: CacheConfig = serde_json::from_str(&doc).unwrap();
    let decoded = decode(&config, &layer_descriptors(std::slice::from_ref(&l))).unwrap();
    assert_eq!(decoded[&CacheKey::from_stored("sha256:00")].layers, vec![l]);
}

#[test]
fn layer_times_travel_as_created_at() {
    let entry = CacheEntry {
        key: key("t"),
        inputs: vec![],
        chain: Chain {
            layers: vec![layer(1), layer(2)],
        },
    };
    let (config, blobs) = encode(&[entry]);
    let text = serde_json::to_string(&config).unwrap();
    assert!(
        text.contains(r#""createdAt":"2023-11-14T22:13:21Z""#),
        "{text}"
    );
    let decoded = decode(&config, &layer_descriptors(&blobs)).unwrap();
    let times: Vec<_> = decoded[&key("t")]
        .layers
        .iter()
        .map(|l| l.created)
        .collect();
    assert_eq!(times, vec![Some(1_700_000_001), Some(1_700_000_002)]);
}

#[test]
fn go_zero_times_are_no_times_and_a_result_dates_its_top_layer() {
    let l = layer(1);
    let doc = format!(
        r#"{{"layers":[{{"blob":"{}","parent":-1,"annotations":{{"createdAt":"0001-01-01T00:00:00Z"}}}}],"records":[{{"digest":"sha256:00","layers":[{{"layer":0,"createdAt":"2024-01-01T00:00:00Z"}}]}}]}}"#,
        l.blob
    );
    let config: CacheConfig = serde_json::from_str(&doc).unwrap();
    let decoded = decode(&config, &layer_descriptors(std::slice::from_ref(&l))).unwrap();
    let chain = &decoded[&CacheKey::from_stored("sha256:00")];
    assert_eq!(chain.layers[0].created, Some(1_704_067_200));
}

#[test]
fn rejects_broken_documents() {
    let l = layer(1);
    let mut config = CacheConfig {
        layers: vec![CacheLayer {
            blob: l.blob.clone(),
            parent: 0,
            annotations: None,
        }],
        records: vec![],
    };
    assert!(matches!(
        decode(&config, &layer_descriptors(std::slice::from_ref(&l))),
        Err(FormatError::BadParent { .. })
    ));
    config.layers[0].parent = -1;
    assert!(matches!(
        decode(&config, &[]),
        Err(FormatError::UnknownBlob { .. })
    ));
    let bare = Descriptor::new(&l.media_type, l.blob.clone(), l.size);
    assert!(matches!(
        decode(&config, &[bare]),
        Err(FormatError::NoDiffId { .. })
    ));
}
