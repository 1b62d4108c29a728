#!/bin/sh
# The lab's vif hotplug script, installed as /etc/xen/scripts/vif-bridge (Xen's own needs bash):
# libxl runs it with online/offline/add/remove and vif=, XENBUS_PATH= in the environment.
bridge=$(xenstore-read "$XENBUS_PATH/bridge" 2>/dev/null || echo xenbr0)
case "$1" in
  online|add)
    ip link set "$vif" up
    brctl addif "$bridge" "$vif"
    xenstore-write "$XENBUS_PATH/hotplug-status" connected ;;
  offline|remove)
    brctl delif "$bridge" "$vif" 2>/dev/null
    xenstore-rm "$XENBUS_PATH/hotplug-status" 2>/dev/null ;;
esac
exit 0
