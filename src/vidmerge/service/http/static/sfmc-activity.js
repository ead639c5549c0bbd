/* vidmerge's Journey Builder configuration page: pick a template, map each of its inputs to the
 * journey's data ({{Contact.Attribute...}}, {{Event...}}). Journey Builder speaks Postmonger
 * (postmonger.js, vendored): the page says `ready`; `initActivity` brings the activity as saved;
 * `requestSchema` / `requestInteraction` ask for the journey's fields (offered as suggestions);
 * `updateActivity` hands the activity back with its inArguments: [{template_id}, {input: binding}, ...].
 * Journey Builder's own Done button sends `clickedNext`; the page's Save button does the same.
 */
(function () {
  "use strict";

  var root = document.getElementById("activity");
  var templates = JSON.parse(root.getAttribute("data-templates") || "[]");
  var picker = document.getElementById("template");
  var box = document.getElementById("fields");
  var bindings = document.getElementById("bindings");
  var problem = document.getElementById("problem");
  var connection = new window.Postmonger.Session();
  var activity = {};
  var mapped = {}; // input -> binding, kept across template changes

  function chosen() {
    return templates.filter(function (t) { return t.id === picker.value; })[0];
  }

  function remember() {
    Array.prototype.forEach.call(box.querySelectorAll("input[data-input]"), function (input) {
      mapped[input.getAttribute("data-input")] = input.value.trim();
    });
  }

  function showFields() {
    var grid = box.querySelector(".grid");
    grid.textContent = "";
    var template = chosen();
    (template ? template.inputs : []).forEach(function (field) {
      var label = document.createElement("label");
      label.htmlFor = "map-" + field.name;
      label.textContent = field.name + (field.required ? " *" : "");
      if (field.description) label.title = field.description;
      var input = document.createElement("input");
      input.id = "map-" + field.name;
      input.setAttribute("data-input", field.name);
      input.setAttribute("list", "bindings");
      input.required = !!field.required;
      input.value = mapped[field.name] || "";
      input.placeholder = field.required ? "{{Contact.Attribute...}}" : "(既定値 / default)";
      grid.appendChild(label);
      grid.appendChild(input);
    });
    box.hidden = !template;
  }

  function inArguments() {
    var execute = (activity.arguments || {}).execute || {};
    return execute.inArguments || [];
  }

  function save() {
    remember();
    var template = chosen();
    var missing = template ? template.inputs.filter(function (f) { return f.required && !mapped[f.name]; }) : [];
    problem.hidden = !!template && !missing.length;
    if (!template) problem.textContent = "テンプレートを選んでください（Pick a template）";
    else if (missing.length) problem.textContent = missing.map(function (f) { return f.name; }).join(", ") +
      ": ジャーニーの項目を選んでください（map it to the journey's data）";
    if (!problem.hidden) return;
    var args = [{ template_id: template.id }];
    template.inputs.forEach(function (f) {
      if (mapped[f.name]) { var a = {}; a[f.name] = mapped[f.name]; args.push(a); }
    });
    activity.arguments = activity.arguments || {};
    activity.arguments.execute = activity.arguments.execute || {};
    activity.arguments.execute.inArguments = args;
    activity.metaData = activity.metaData || {};
    activity.metaData.isConfigured = true;
    connection.trigger("updateActivity", activity);
  }

  connection.on("initActivity", function (payload) {
    activity = payload || {};
    inArguments().forEach(function (argument) {
      Object.keys(argument).forEach(function (key) {
        if (key === "template_id") picker.value = argument[key];
        else mapped[key] = argument[key];
      });
    });
    showFields();
    document.getElementById("status").hidden = true;
    connection.trigger("requestSchema");
    connection.trigger("requestInteraction");
  });

  // the journey's fields (its entry source's and the contact's), each as a binding to choose
  connection.on("requestedSchema", function (data) {
    bindings.textContent = "";
    ((data && data.schema) || []).forEach(function (field) {
      var option = document.createElement("option");
      option.value = "{{" + field.key + "}}";
      option.textContent = field.name || field.key;
      bindings.appendChild(option);
    });
  });

  connection.on("requestedInteraction", function (interaction) {
    var trigger = ((interaction && interaction.triggers) || [])[0];
    var key = trigger && trigger.metaData && trigger.metaData.eventDefinitionKey;
    if (key) box.querySelector(".hint").textContent = "{{Event." + key + ".…}} / {{Contact.Attribute.….…}}";
  });

  connection.on("clickedNext", save);
  document.getElementById("done").addEventListener("click", save);
  picker.addEventListener("change", function () { remember(); showFields(); });
  connection.trigger("ready");
})();
