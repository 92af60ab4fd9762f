//! ZooKeeper writes over the reference model: filled in once `reference::ZkModel` lands.
