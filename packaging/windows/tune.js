// Deferred custom actions of the listdrop installer that tune the service
// (its recovery settings). A tuning step that fails must not stop the
// install: it is written to the installer's log (msiexec /l*v FILE) and the
// install goes on. CustomActionData is the command line to run.
function Tune() {
  var cmd = Session.Property("CustomActionData");
  var result;
  try {
    var code = new ActiveXObject("WScript.Shell").Run(cmd, 0, true);
    result = code === 0 ? "" : "exit code " + code;
  } catch (e) {
    result = e.message || "error " + e.number;
  }
  if (result !== "") {
    log("listdrop: a service setting failed and was skipped; the install goes on without it: " +
      cmd + ": " + result + ". Set it by hand as Administrator with the same sc.exe command " +
      "(sc.exe qfailure listdrop shows the recovery actions, sc.exe qfailureflag listdrop the flag).");
  }
  return 1; // msiDoActionStatusSuccess
}

function log(text) {
  var record = Session.Installer.CreateRecord(0);
  record.StringData(0) = text;
  Session.Message(0x04000000, record); // msiMessageTypeInfo: a line of the log
}
