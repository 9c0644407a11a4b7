import StewardKit

/// The shell scripts a QEMU build instance runs. The guest needs no init system of its own: the initramfs mounts the
/// image's root (`/dev/vda`), Steward's tools disk (`/dev/vdb`, on `/run/steward`, a tmpfs, so nothing of ours is
/// written into the image) and the agent disk (`/dev/vdc`, read-only, shared by all instances, on
/// `/run/steward/agent`), and starts the tools disk's `init` as PID 1, which brings up the network and the agent.
enum GuestScripts {
    /// Where the tools disk is mounted in the guest.
    static let tools = "/run/steward"

    /// The initramfs's `/init`: loads the virtio, ext4 and network modules, mounts both disks, switches root.
    static func initramfsInit(modules: [String]) -> String {
        """
        #!/bin/sh
        /bin/busybox --install -s /bin
        mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
        for m in \(modules.joined(separator: " ")); do
          insmod /lib/modules/$m.ko || echo "steward-initrd: insmod $m failed"
        done
        i=0; while { [ ! -b /dev/vda ] || [ ! -b /dev/vdb ] || [ ! -b /dev/vdc ]; } && [ $i -lt 100 ]; do
          sleep 0.1; i=$((i+1))
        done
        mount -t ext4 -o rw /dev/vda /newroot || { echo "steward-initrd: cannot mount the root disk"; poweroff -f; }
        for d in dev proc sys tmp run; do [ -d /newroot/$d ] || mkdir -p /newroot/$d; done
        mount -t tmpfs -o mode=0755 run /newroot/run
        mkdir -p /newroot\(tools)
        mount -t ext4 -o rw /dev/vdb /newroot\(tools) || { echo "steward-initrd: cannot mount the tools disk"; poweroff -f; }
        mkdir -p /newroot\(tools)/agent
        mount -t ext4 -o ro,noload /dev/vdc /newroot\(tools)/agent || { echo "steward-initrd: cannot mount the agent disk"; poweroff -f; }
        umount /sys /proc
        mount --move /dev /newroot/dev
        exec switch_root /newroot \(tools)/init

        """
    }

    /// PID 1 in the guest: network on QEMU's user-mode LAN (10.0.2.2 is the host's loopback), registration once,
    /// then the agent, started again whenever it stops, until the instance is halted.
    static func guestInit(maxReboots: Int) -> String {
        """
        #!\(tools)/bin/sh
        S=\(tools)
        export PATH=$S/bin
        mount -t proc proc /proc; mount -t sysfs sys /sys
        mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs shm /dev/shm
        hostname "$(cat $S/hostname)"
        ip link set lo up; ip link set eth0 up
        ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
        boots=$(( $(cat $S/boots 2>/dev/null || echo 0) + 1 )); echo $boots > $S/boots; sync
        echo "steward-guest: boot $boots, up $(cut -d' ' -f1 /proc/uptime) s"
        . $S/activation
        if [ ! -e $S/state/registered ]; then
          if $S/agent/bin/steward-agent register --server "$SERVER" --activation-id "$ACTIVATION_ID" \\
               --activation-code "$ACTIVATION_CODE" --state-dir $S/state > $S/register.log 2>&1; then
            touch $S/state/registered; sync
            echo "steward-guest: registered as $(tail -n 1 $S/register.log)"
          else
            echo "steward-guest: registration failed: $(tail -n 1 $S/register.log)"
            while true; do sleep 3600; done
          fi
        fi
        while [ ! -e $S/halting ]; do
          env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \\
            $S/agent/bin/steward-agent start --state-dir $S/state --reboot-command "$S/bin/sh $S/reboot" \\
            --max-reboots \(maxReboots) < /dev/null > /dev/console 2>&1 &
          echo $! > $S/agent.pid
          wait $!
          [ -e $S/halting ] || { echo "steward-guest: the agent stopped; starting it again"; sleep 1; }
        done
        while true; do sleep 3600; done

        """
    }

    /// What the agent runs when a command asks for a reboot: the root is made read-only first when it can be.
    static let reboot = """
        #!\(tools)/bin/sh
        export PATH=\(tools)/bin
        echo "steward-guest: rebooting" > /dev/console
        sync; mount -o remount,ro / 2>/dev/null; sync
        reboot -f

        """

    /// Powers the guest off cleanly: the agent is stopped, the root made read-only, then the machine turned off.
    static let halt = """
        #!\(tools)/bin/sh
        S=\(tools)
        export PATH=$S/bin
        touch $S/halting
        sleep 1
        pid=$(cat $S/agent.pid 2>/dev/null)
        if [ -n "$pid" ]; then
          kill -TERM $pid 2>/dev/null
          i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
          kill -KILL $pid 2>/dev/null
        fi
        sync
        if mount -o remount,ro /; then echo "steward-guest: root is read-only; powering off"
        else echo "steward-guest: the root stays writable (busy); powering off"; fi
        sync
        poweroff -f

        """

    /// The command that runs components through `steward-runner`, one runner run per component (each with its own
    /// parameters), in order. Run again after a reboot, it resumes the run that asked for it and skips finished ones.
    static func componentRun(
        runId: String, components: [(file: String, base64: String, parameters: [String: String])], phases: [String], maxReboots: Int
    )
        -> [String]
    {
        var lines = [
            "S=\(tools); R=$S/runs/\(runId); B=$S/bin",
            "$B/mkdir -p $R/docs $R/logs",
            "run_one() {",
            "  i=$1; shift",
            "  [ -e $R/c$i.ok ] && return 0",
            "  if [ -e $R/c$i/state.json ]; then $S/agent/bin/steward-runner resume --state-dir $R/c$i",
            "  else $S/agent/bin/steward-runner run --state-dir $R/c$i --log-directory $R/logs --startup-hook none \\",
            "    --reboot-command true --max-reboots \(maxReboots) --phases \(phases.joined(separator: ",")) \"$@\"; fi",
            "  rc=$?; [ $rc = 0 ] && $B/touch $R/c$i.ok; return $rc",
            "}",
        ]
        for component in components {
            lines.append("[ -e $R/docs/\(component.file) ] || echo '\(component.base64)' | $B/base64 -d > $R/docs/\(component.file)")
        }
        for (i, component) in components.enumerated() {
            var arguments = "--documents $R/docs/\(component.file)"
            if !component.parameters.isEmpty {
                let json = JSONWriter.string(.object(component.parameters.mapValues { .string($0) }))
                arguments += " --parameters-json \(shellQuoted(json))"
            }
            lines.append("run_one \(i + 1) \(arguments) || exit $?")
        }
        lines.append("exit 0")
        return lines
    }

    /// Prints the run's `TOE_*` log folders as a base64 gzip tar, for the host to unpack.
    static func fetchLogs(runId: String) -> [String] {
        ["cd \(tools)/runs/\(runId)/logs && \(tools)/bin/tar -cz . | \(tools)/bin/base64"]
    }

    /// Starts the halt script apart from the agent, so the command ends (and its result is sent) first.
    static let haltCommand = ["\(tools)/bin/setsid \(tools)/bin/sh \(tools)/halt < /dev/null > /dev/console 2>&1 &"]
}
